"""The admin console in a real browser: the overview's chart and CSV, people (deactivate,
which shuts the account out at once), API keys shown once, the suppression list with
lift; admins only."""

from __future__ import annotations

import re
from pathlib import Path

from daemon.lifecycle import Running
from desk.models import InboundMail, Suppression
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import rows, send, settled, wait_for, wait_for_value


async def _admin_page(team: Team, chromium, path: str):
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "admin@localhost", PASSWORD)
    await page.goto(f"{team.api.base}{path}")
    return page


async def test_overview_draws_the_volume_and_offers_csv(team: Team, chromium):
    for n in range(3):
        await team.open_ticket("carol", f"Ticket {n}")
    page = await _admin_page(team, chromium, "/app/admin/")
    assert await page.get_by_role("heading", name="Overview").is_visible()
    chart = page.get_by_role("img", name="Volume, last 30 days")
    assert await chart.locator("rect.created").count() == 30
    tallest = max(
        [
            float(await r.get_attribute("height") or 0)
            for r in await chart.locator("rect.created").all()
        ]
    )
    assert tallest > 0  # today's three tickets
    assert await serious_violations(page) == []
    await screenshot(page, "admin-overview")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").first.click()
    download = await info.value
    text = Path(await download.path()).read_text()  # noqa: ASYNC240 - a test's temp file
    assert text.splitlines()[0] == "date,created,resolved"
    assert text.splitlines()[-1].endswith(",3,0")


async def test_deactivating_a_person_shuts_them_out(team: Team, chromium):
    page = await _admin_page(team, chromium, "/app/admin/people")
    assert await serious_violations(page) == []
    await page.get_by_label("Search people").fill("agent1")
    await page.get_by_role("button", name="Find").click()
    await page.get_by_label("Active").uncheck()
    await page.get_by_role("button", name="Save agent1@localhost").click()
    await page.wait_for_load_state()
    assert (await team.call("agent1", "GET", "/api/me/"))[0] == 401
    await screenshot(page, "admin-people")


async def test_an_api_key_is_shown_once_and_can_be_revoked(team: Team, chromium):
    page = await _admin_page(team, chromium, "/app/admin/integrations")
    await page.get_by_label("Key name").fill("Mail gateway")
    await page.get_by_label("inbound:write").check()
    await page.get_by_role("button", name="Create key").click()
    key = await page.get_by_label("New API key").input_value()
    assert key.startswith("pdk_")
    assert await _mail_with_key(team, key) in (200, 201, 202)
    await page.goto(f"{team.api.base}/app/admin/integrations")
    assert not await page.get_by_label("New API key").count()  # never shown again
    await page.get_by_role("button", name="Revoke Mail gateway").click()
    await page.wait_for_load_state()
    assert await _mail_with_key(team, key) == 401


async def _mail_with_key(team: Team, key: str) -> int:
    raw = b"From: a@example.com\r\nTo: support@localhost\r\nSubject: via key\r\n\r\nhi\r\n"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"}
    url = f"{team.api.base}/api/inbound/mime/"
    async with team.api.http.post(url, data=raw, headers=headers) as r:
        return r.status


async def test_a_bounced_address_can_be_lifted(team: Team, daemon: Running, chromium):
    async with daemon.desk.db.writer() as session:
        session.add(Suppression(address="gone@other.org", reason="5.1.1 user unknown"))
    page = await _admin_page(team, chromium, "/app/admin/mail")
    assert await page.get_by_role("cell", name="gone@other.org", exact=True).is_visible()
    assert await page.get_by_text("5.1.1 user unknown").is_visible()
    await page.get_by_role("button", name="Lift gone@other.org").click()
    await page.wait_for_load_state()
    assert await page.get_by_text("No suppressed addresses.").is_visible()
    code, body = await team.call("admin", "GET", "/api/admin/suppressions/")
    assert code == 200 and body["count"] == 0


async def test_only_admins_enter(team: Team, chromium):
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    response = await page.goto(f"{team.api.base}/app/admin/people")
    assert response is not None and response.status == 403
    response = await page.goto(f"{team.api.base}/app/admin/reports/volume.csv")
    assert response is not None and response.status == 403


async def test_a_broken_mail_is_found_with_its_reason_and_retried(team: Team, daemon, chromium):
    broken = b"Subject: nobody wrote this\r\n\r\nbody\r\n"  # no sender anywhere
    await send(daemon.desk.settings.smtp_port, broken, sender="")
    [mail] = await settled(daemon, 1)
    page = await _admin_page(team, chromium, "/app/admin/mail")
    await page.get_by_role("link", name=f"Mail {mail.id}").click()
    assert await page.get_by_text("no usable sender").first.is_visible()
    assert await page.get_by_text("nobody wrote this").first.is_visible()  # headers, escaped
    assert await serious_violations(page) == []
    await screenshot(page, "admin-inbound")
    await page.get_by_role("button", name="Retry this mail").click()
    assert await page.get_by_role("status").inner_text() == "Queued to be processed again."

    async def tried_twice():
        [row] = await rows(daemon, InboundMail, InboundMail.id == mail.id)
        return row.attempts == 2 and row.state == "failed"

    await wait_for(tried_twice, what="the mail processed again")


async def test_an_invited_agent_sets_a_password_and_signs_in(team: Team, make_user, sink, chromium):
    await make_user("newbie@localhost", "agent", password=None, name="Newbie")
    page = await _admin_page(team, chromium, "/app/admin/people")
    await page.get_by_role("button", name="Send newbie@localhost a password link").click()
    assert await page.get_by_role("status").inner_text() == "The link is on its way."

    def links() -> list[str]:
        texts = [m.get_body(("plain",)).get_content() for m in sink.to("newbie@localhost")]
        return [u for t in texts for u in re.findall(r"http\S+set-password\?token=\S+", t)]

    [link] = await wait_for_value(links, what="the invitation mail")
    other = await new_page(chromium)
    assert link.startswith(team.api.base)  # POSTDESK_PUBLIC_URL: this daemon
    await other.goto(link)
    await other.get_by_label("New password", exact=True).fill("a brand new secret")
    await other.get_by_label("New password again").fill("a brand new secret")
    await other.get_by_role("button", name="Set password and sign in").click()
    await other.wait_for_url(f"{team.api.base}/app/")
    assert await team.api.token("newbie@localhost", "a brand new secret")


async def test_settings_change_the_desk_at_once(team: Team, chromium):
    page = await _admin_page(team, chromium, "/app/admin/settings")
    await page.get_by_label("Desk name").fill("Acme Help")
    await page.get_by_role("button", name="Save settings").click()
    await page.wait_for_url("**/app/admin/settings?saved=1")
    assert (await page.locator("a.brand").inner_text()).strip() == "Acme Help"
    await page.get_by_label("Archive finished tickets after (hours)").fill("99999")
    await page.get_by_role("button", name="Save settings").click()
    assert await page.get_by_role("alert").is_visible()
    assert await serious_violations(page) == []
    code, body = await team.call("admin", "GET", "/api/admin/settings/")
    assert code == 200 and body["desk_name"] == "Acme Help" and body["archive_after_hours"] != 99999


async def test_an_admin_invites_a_new_agent_who_signs_in(team: Team, sink, chromium):
    page = await _admin_page(team, chromium, "/app/admin/people")
    await page.get_by_text("Invite staff").click()
    await page.get_by_label("Email of the new staff member").fill("fresh@localhost")
    await page.get_by_label("Name", exact=True).fill("Fresh Agent")
    await page.get_by_label("Role of the new staff member").select_option("agent")
    await page.get_by_role("button", name="Send invitation").click()
    assert await page.get_by_role("status").inner_text() == "The link is on its way."

    def links() -> list[str]:
        texts = [m.get_body(("plain",)).get_content() for m in sink.to("fresh@localhost")]
        return [u for t in texts for u in re.findall(r"http\S+set-password\?token=\S+", t)]

    [link] = await wait_for_value(links, what="the invitation mail")
    other = await new_page(chromium)
    await other.goto(link)
    await other.get_by_label("New password", exact=True).fill("fresh and secret")
    await other.get_by_label("New password again").fill("fresh and secret")
    await other.get_by_role("button", name="Set password and sign in").click()
    await other.wait_for_url(f"{team.api.base}/app/")
    code, me = await team.api.call(
        "GET", "/api/me/", await team.api.token("fresh@localhost", "fresh and secret")
    )
    assert code == 200 and me["role"] == "agent" and me["name"] == "Fresh Agent"


async def test_inviting_staff_needs_the_csrf_token(team: Team, chromium):
    page = await _admin_page(team, chromium, "/app/admin/people")
    response = await page.request.post(
        f"{team.api.base}/app/admin/people/invite",
        form={"email": "sneaky@localhost", "role": "admin"},
    )
    assert response.status == 403
    code, body = await team.call("admin", "GET", "/api/admin/users/?search=sneaky")
    assert code == 200 and body["count"] == 0
