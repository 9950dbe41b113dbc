"""The console's integrations and companies in a real browser: a webhook's delivery log
(a failure with its error, redelivered to a receiver that now answers 200; turned off, after
which nothing is queued or attempted), companies with their email domains (a new customer
mailing from one joins), "Unlock" only for locked accounts, times said as people read them,
the volume chart's axes; admins only, and every form refused without its CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from daemon.lifecycle import Running
from daemon.webhook_sender import client_session, deliver_due
from desk.models import utcnow
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import free_port, http_server, make_mail, send, settled, wait_for
from tests.test_webhooks import Receiver
from web.pages.charts import day_label, volume_chart

ISO_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    async with http_server(r.port, "POST", "/hooks", r.handle):
        yield r


async def _admin_page(team: Team, chromium: Any, path: str) -> Any:
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "admin@localhost", PASSWORD)
    await page.goto(f"{team.api.base}{path}")
    return page


async def _subscribe(team: Team, receiver: Receiver) -> dict[str, Any]:
    status, hook = await team.call(
        "admin", "POST", "/api/webhooks/", json={"url": receiver.url, "events": ["ticket.*"]}
    )
    assert status == 201, hook
    receiver.secret = hook["secret"]
    return hook


async def _deliveries(team: Team, hook_id: int) -> list[dict[str, Any]]:
    status, body = await team.call("admin", "GET", f"/api/webhooks/{hook_id}/deliveries/")
    assert status == 200
    return list(body["results"])


async def _recorded(team: Team, hook_id: int, state: str) -> dict[str, Any] | None:
    """The hook's only delivery once it is in `state` with its last attempt recorded."""
    [d] = await _deliveries(team, hook_id)
    return d if d["state"] == state and d["attempt_log"] else None


async def _run_sender_once(daemon: Running) -> int:
    """The webhook sender's run-once form: every delivery due now is attempted."""
    async with client_session(allow_private=True) as http:
        return await deliver_due(daemon.desk, http)


async def test_a_failed_delivery_is_redelivered_and_a_webhook_turned_off(
    team: Team, daemon: Running, receiver: Receiver, chromium: Any
) -> None:
    hook = await _subscribe(team, receiver)
    receiver.answers = [400]  # final: the receiver said no
    await team.open_ticket("carol", "Hooked")
    failed = await wait_for(lambda: _recorded(team, hook["id"], "failed"), what="the refusal")
    page = await _admin_page(team, chromium, "/app/admin/integrations")
    await page.get_by_role("link", name=f"Webhook {hook['id']}").click()
    row = page.locator(f"#delivery-{failed['id']}")
    assert "failed" in await row.inner_text()
    assert "400" in await row.inner_text() and "HTTP 400: no" in await row.inner_text()
    assert await serious_violations(page) == []
    await screenshot(page, "admin-webhook")
    # The receiver is fixed (it answers 200 from now on): deliver the same event again.
    await page.get_by_role("button", name=f"Redeliver delivery {failed['id']}").click()
    assert await page.get_by_role("status").inner_text() == "Queued to be delivered again now."
    await _run_sender_once(daemon)  # or the running sender got to it first: either sends it
    await wait_for(lambda: _recorded(team, hook["id"], "delivered"), what="the redelivery")
    assert receiver.types() == ["ticket.created"]
    await page.reload()
    assert "delivered" in await row.inner_text() and "200" in await row.inner_text()
    # Turned off, the webhook gets nothing queued, so nothing is attempted.
    await page.get_by_role("button", name=f"Turn off webhook {hook['id']}").click()
    assert await page.get_by_role("status").inner_text() == "Turned off."
    status, after = await team.call("admin", "GET", f"/api/webhooks/{hook['id']}/")
    assert status == 200 and after["is_active"] is False
    await team.open_ticket("dave", "Not for the webhook")
    assert await _run_sender_once(daemon) == 0
    assert len(await _deliveries(team, hook["id"])) == 1 and len(receiver.seen) == 1
    assert not await page.get_by_role("button", name=re.compile("Redeliver")).count()
    await page.get_by_role("button", name=f"Turn on webhook {hook['id']}").click()
    assert await page.get_by_role("status").inner_text() == "Turned on."


async def test_a_company_is_created_and_a_new_customer_from_its_domain_joins(
    team: Team, daemon: Running, chromium: Any
) -> None:
    page = await _admin_page(team, chromium, "/app/admin/people")
    await page.get_by_role("link", name="Companies and their email domains").click()
    await page.get_by_label("Company name", exact=True).fill("Acme")
    await page.get_by_label("Email domains", exact=True).fill("acme.example")
    await page.get_by_role("button", name="Create company").click()
    assert await page.get_by_role("status").inner_text() == "Company created."
    row = page.get_by_role("row", name=re.compile("^Acme"))
    assert "acme.example" in await row.inner_text()
    assert await row.get_by_role("cell").nth(1).inner_text() == "0"
    raw, _ = make_mail(sender="new@acme.example", name="New Person", subject="Hello Acme")
    await send(daemon.smtp_port, raw, sender="new@acme.example")
    await settled(daemon, 1)
    await page.reload()
    assert await row.get_by_role("cell").nth(1).inner_text() == "1"
    _, listed = await team.call("admin", "GET", "/api/admin/users/?search=acme")
    [customer] = [c for c in listed["results"] if c["email"] == "new@acme.example"]
    _, companies = await team.call("admin", "GET", "/api/admin/companies/")
    [acme] = companies["results"]
    assert customer["company_id"] == acme["id"] and acme["members"] == 1
    # Renamed and given a second domain; a domain another company holds is refused.
    await page.get_by_label("Name of Acme").fill("Acme Ltd")
    await page.get_by_label("Email domains of Acme").fill("acme.example, acme.org")
    await page.get_by_role("button", name="Save Acme").click()
    assert await page.get_by_role("status").inner_text() == "Saved."
    await page.get_by_label("Company name", exact=True).fill("Copycat")
    await page.get_by_label("Email domains", exact=True).fill("acme.org")
    await page.get_by_role("button", name="Create company").click()
    assert "belongs to another company" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Company name", exact=True).input_value() == "Copycat"  # kept
    assert await serious_violations(page) == []
    _, companies = await team.call("admin", "GET", "/api/admin/companies/")
    assert [(c["name"], c["domains"]) for c in companies["results"]] == [
        ("Acme Ltd", ["acme.example", "acme.org"])
    ]


async def test_unlock_is_offered_only_for_a_locked_account(team: Team, chromium: Any) -> None:
    for _ in range(5):
        async with team.api.http.post(
            f"{team.api.base}/api/auth/token/",
            json={"email": "agent1@localhost", "password": "wrong"},
        ) as r:
            assert r.status == 401
    page = await _admin_page(team, chromium, "/app/admin/people")
    unlocks = page.get_by_role("button", name=re.compile("^Unlock"))
    assert await unlocks.all_inner_texts() == ["Unlock agent1@localhost"]
    await unlocks.first.click()
    assert await page.get_by_role("status").inner_text() == "Unlocked."
    assert not await unlocks.count()
    assert await team.api.token("agent1@localhost", PASSWORD)


async def test_mail_times_are_said_as_people_read_them(
    team: Team, daemon: Running, chromium: Any
) -> None:
    raw, _ = make_mail(sender="zoe@example.com", subject="When did it come?")
    await send(daemon.smtp_port, raw, sender="zoe@example.com")
    [mail] = await settled(daemon, 1)
    page = await _admin_page(team, chromium, "/app/admin/mail")
    assert not ISO_TEXT.search(await page.locator("main").inner_text())
    when = page.get_by_role("row", name=re.compile(f"Mail {mail.id}")).locator("time")
    assert await when.inner_text() == "just now"
    assert ISO_TEXT.match(await when.get_attribute("title") or "")
    await page.get_by_role("link", name=f"Mail {mail.id}").click()
    assert not ISO_TEXT.search(await page.locator("dl.facts").inner_text())


async def test_the_volume_chart_has_a_scale_and_dates(team: Team, chromium: Any) -> None:
    for n in range(3):
        await team.open_ticket("carol", f"Ticket {n}")
    page = await _admin_page(team, chromium, "/app/admin/")
    chart = page.get_by_role("img", name="Volume, last 30 days")
    assert await chart.locator(".axis.y text").all_text_contents() == ["0", "1", "2", "3"]
    dates = await chart.locator(".axis.x text").all_text_contents()
    assert len(dates) == 5 and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", d) for d in dates)
    # The newest label is today's (UTC, as volume.csv counts), under the bar of today's
    # three tickets.
    today = utcnow().date()
    assert dates[-1] == day_label(today.isoformat())
    _, volume = await team.call("admin", "GET", "/api/analytics/volume/?days=30")
    rows = volume["results"] if isinstance(volume, dict) and "results" in volume else volume
    assert rows[-1]["date"] == today.isoformat() and rows[-1]["created"] == 3
    titles = await chart.locator("rect.created title").all_text_contents()
    assert titles[-1] == f"{today.isoformat()}: 3 created"
    assert "from 0 to 3 tickets" in (await chart.locator("desc").text_content() or "")
    assert await serious_violations(page) == []


# Every page and form this module adds, for the access and CSRF checks.
NEW_PAGES = ["/app/admin/integrations/webhooks/{hook}", "/app/admin/people/companies"]
NEW_FORMS = {
    "/app/admin/integrations/webhooks/{hook}/switch": {"active": "off"},
    "/app/admin/integrations/webhooks/{hook}/deliveries/{delivery}/redeliver": {},
    "/app/admin/people/companies": {"name": "Sneaky", "domains": "sneaky.example"},
    "/app/admin/people/companies/{company}": {"name": "Renamed", "domains": ""},
    "/app/admin/integrations/webhooks": {"url": "http://127.0.0.1:9/x", "events": "*"},
    "/app/admin/people/{carol}/company-admin": {"is_company_admin": "on"},
}


async def _targets(team: Team, receiver: Receiver) -> dict[str, int]:
    hook = await _subscribe(team, receiver)
    await team.open_ticket("carol", "For the log")
    [delivery] = await wait_for(lambda: _some(_deliveries(team, hook["id"])), what="a delivery")
    status, company = await team.call(
        "admin", "POST", "/api/admin/companies/", json={"name": "Kept", "domains": []}
    )
    assert status == 201
    return {
        "hook": hook["id"],
        "delivery": delivery["id"],
        "company": company["id"],
        "carol": team.id("carol"),
    }


async def _some(found: Any) -> Any:
    return (await found) or None


async def _unchanged(team: Team, ids: dict[str, int]) -> None:
    _, hook = await team.call("admin", "GET", f"/api/webhooks/{ids['hook']}/")
    _, companies = await team.call("admin", "GET", "/api/admin/companies/")
    assert hook["is_active"] is True
    assert [h["id"] for h in (await team.call("admin", "GET", "/api/webhooks/"))[1]["results"]] == [
        ids["hook"]
    ]
    _, carol = await team.call("admin", "GET", f"/api/admin/users/{ids['carol']}/")
    assert carol["is_company_admin"] is False
    assert [c["name"] for c in companies["results"]] == ["Kept"]


async def test_agents_are_refused_every_new_page_and_form(
    team: Team, daemon: Running, receiver: Receiver, chromium: Any
) -> None:
    ids = await _targets(team, receiver)
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    csrf = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    for path in NEW_PAGES:
        response = await page.goto(team.api.base + path.format(**ids))
        assert response is not None and response.status == 403, path
    for path, fields in NEW_FORMS.items():
        answer = await page.request.post(
            team.api.base + path.format(**ids), form={**fields, "csrf_token": csrf}
        )
        assert answer.status == 403, path
    await _unchanged(team, ids)


async def test_every_new_form_needs_its_csrf_token(
    team: Team, daemon: Running, receiver: Receiver, chromium: Any
) -> None:
    ids = await _targets(team, receiver)
    page = await _admin_page(team, chromium, "/app/admin/people/companies")
    for path, fields in NEW_FORMS.items():
        answer = await page.request.post(team.api.base + path.format(**ids), form=fields)
        assert answer.status == 403, path
    await _unchanged(team, ids)
    # With the token, the same form goes through.
    csrf = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    form = {**NEW_FORMS["/app/admin/people/companies"], "csrf_token": csrf or ""}
    answer = await page.request.post(f"{team.api.base}/app/admin/people/companies", form=form)
    assert answer.ok and "Company created." in await answer.text()


def test_the_newest_day_is_always_labelled_under_its_own_bar():
    days = [
        {"date": f"2026-11-{n:02d}", "created": int(n == 30), "resolved": 0} for n in range(1, 31)
    ]
    chart = volume_chart(days)
    assert [t.label for t in chart.x_ticks] == ["2 Nov", "9 Nov", "16 Nov", "23 Nov", "30 Nov"]
    last_bar = chart.created[-1]
    assert last_bar.label == "2026-11-30: 1 created"
    assert chart.x_ticks[-1].anchor == "end" and chart.x_ticks[-1].at >= last_bar.x
