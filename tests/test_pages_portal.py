"""The customer portal in a real browser: sign in with a mailed code, see only one's own
requests (a company admin: the company's), reply with a file that the team sees, never see
a note, see the team's answer arrive live, mark solved and reopen, open a new request."""

from __future__ import annotations

import email.utils
import io
import re
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest

from daemon.lifecycle import Running
from desk.uploads import human_size
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import Sink, make_mail, send, settled, wait_for_value
from tests.test_pages_signin import _client, _csrf, _signed_in


async def _code_from(sink: Sink, address: str) -> str:
    def codes() -> list[str]:
        texts = [m.get_body(("plain",)).get_content() for m in sink.to(address)]
        return [c for t in texts for c in re.findall(r"code is (\d{6})", t)]

    [code] = await wait_for_value(codes, what="the code mail")
    return code


async def test_a_customer_signs_in_with_a_code_and_works_on_their_request(
    team: Team, daemon: Running, sink: Sink, chromium, tmp_path: Path
):
    raw, _ = make_mail(sender="erin@other.org", name="Erin", subject="Broken hinge")
    await send(daemon.desk.settings.smtp_port, raw, sender="erin@other.org")
    await settled(daemon, 1)
    someone_else = await team.open_ticket("carol", "Carol's own matter")
    base = team.api.base
    page = await new_page(chromium)
    await page.goto(f"{base}/login")
    await page.get_by_label("Email for the code").fill("erin@other.org")
    await page.get_by_role("button", name="Email me a code").click()
    code = await _code_from(sink, "erin@other.org")
    await page.get_by_label("Code").fill(code)
    await page.get_by_role("button", name="Sign in with the code").click()
    await page.wait_for_url(f"{base}/portal/")
    assert await page.get_by_role("link", name="Broken hinge").is_visible()
    assert not await page.get_by_text("Carol's own matter").count()
    assert await serious_violations(page) == []
    await screenshot(page, "portal-requests")

    # The team writes a note and nothing else yet: the customer never sees the note.
    [ticket] = (await team.call("admin", "GET", "/api/tickets/?ordering=id"))[1]["results"][:1]
    t = ticket["id"]
    note = {"body": "Customer seems upset; careful.", "is_internal": True}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json=note))[0] == 201
    await page.get_by_role("link", name="Broken hinge").click()
    await page.wait_for_url(f"{base}/portal/tickets/{t}/")
    assert not await page.get_by_text("Customer seems upset").count()
    # OPEN (new or reopened) in issue 18's words, as IN_PROGRESS reads.
    assert await page.get_by_text("We are working on it").is_visible()

    # Reply with a file: the team sees both.
    photo = tmp_path / "hinge.txt"
    photo.write_text("a picture of the hinge, in words")
    await page.get_by_label("Your reply").fill("Here is the hinge.")
    await page.get_by_label("Attach files").set_input_files(str(photo))
    await page.get_by_role("button", name="Send reply").click()
    await page.wait_for_load_state()
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{t}/")
    last = detail["messages"][-1]
    assert last["body"] == "Here is the hinge." and last["kind"] == "inbound"
    assert [a["filename"] for a in last["attachments"]] == ["hinge.txt"]
    assert await page.get_by_role("link", name="hinge.txt").is_visible()

    # The team's answer appears without a reload.
    await page.locator("html[data-live=connected]").wait_for(state="attached")
    await page.evaluate("window.__same_page = true")
    reply = {"body": "A new hinge is in the post."}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json=reply))[0] == 201
    await page.get_by_text("A new hinge is in the post.").wait_for()
    assert await page.evaluate("window.__same_page") is True
    await screenshot(page, "portal-request")

    # Solved, then reopened, as the workflow lets a customer.
    await page.get_by_role("button", name="This is solved").click()
    await page.get_by_role("button", name="Reopen").wait_for()
    assert (await team.call("agent1", "GET", f"/api/tickets/{t}/"))[1]["status"] == "RESOLVED"
    await page.get_by_role("button", name="Reopen").click()
    await page.get_by_role("button", name="This is solved").wait_for()
    assert (await team.call("agent1", "GET", f"/api/tickets/{t}/"))[1]["status"] == "OPEN"

    # Another customer's request is not there, by URL either.
    response = await page.goto(f"{base}/portal/tickets/{someone_else}/")
    assert response is not None and response.status == 404


async def test_a_new_request_is_acknowledged_by_mail(team: Team, sink: Sink, chromium):
    base = team.api.base
    page = await new_page(chromium, phone=True)
    await sign_in(page, base, "carol@example.com", PASSWORD)
    await page.wait_for_url(f"{base}/portal/")
    await page.get_by_role("link", name="New request").first.click()
    await page.get_by_label("Subject").fill("Where is my order?")
    await page.get_by_label("Description").fill("Ordered a week ago.")
    await page.get_by_role("button", name="Send request").click()
    await page.wait_for_url("**/portal/tickets/*/")
    assert await page.get_by_role("heading", name="Where is my order?").is_visible()
    [ack] = await wait_for_value(lambda: sink.to("carol@example.com"), what="acknowledgement")
    assert "Where is my order?" in ack["Subject"]
    assert await serious_violations(page) == []
    await screenshot(page, "portal-new-phone")


async def test_a_company_admin_sees_the_company_and_no_one_else(
    team: Team, daemon: Running, chromium
):
    status, _ = await team.call(
        "admin",
        "POST",
        "/api/admin/companies/",
        json={"name": "Example", "domains": ["example.com"]},
    )
    assert status == 201
    cora = {"is_company_admin": True}
    code, _ = await team.call("admin", "PATCH", f"/api/admin/users/{team.id('carol')}/", json=cora)
    assert code == 200
    await team.open_ticket("dave", "Dave's printer")
    raw, _ = make_mail(sender="zed@other.org", name="Zed", subject="Zed's secret")
    await send(daemon.desk.settings.smtp_port, raw, sender="zed@other.org")
    await settled(daemon, 1)
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "carol@example.com", PASSWORD)
    assert await page.get_by_role("link", name="Dave's printer").is_visible()
    assert not await page.get_by_text("Zed's secret").count()
    await page.get_by_label("Person").select_option(label="Carol <carol@example.com>")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_load_state()
    assert not await page.get_by_text("Dave's printer").count()


async def test_staff_go_to_the_workspace_and_forged_posts_fail(team: Team, chromium):
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/portal/")
    assert page.url == f"{team.api.base}/app/"


async def test_a_refused_request_or_reply_keeps_what_the_customer_wrote(
    team: Team, sink: Sink, chromium
):
    """Too long a text or too big a file is said in plain words on the same form, with the
    text still there; nothing is cut and nothing half-sent (the agent's limit: 100,000)."""
    base = team.api.base
    page = await new_page(chromium)
    await sign_in(page, base, "carol@example.com", PASSWORD)
    await page.wait_for_url(f"{base}/portal/")
    await page.goto(f"{base}/portal/new")
    await page.get_by_label("Subject").fill("A long story")
    await page.get_by_label("Description").fill("x" * 100_001)
    await page.get_by_role("button", name="Send request").click()
    assert await page.get_by_text("the limit is 100,000").is_visible()
    assert await page.get_by_label("Subject").input_value() == "A long story"
    assert len(await page.get_by_label("Description").input_value()) == 100_001

    too_big = {"name": "big.bin", "mimeType": "application/octet-stream"}
    too_big["buffer"] = b"\0" * (10 * 1024 * 1024 + 1)  # type: ignore[assignment]
    await page.get_by_label("Description").fill("The short version.")
    await page.get_by_label("Attach files").set_input_files(too_big)
    await page.get_by_role("button", name="Send request").click()
    assert await page.get_by_text("big.bin").first.is_visible()
    assert await page.get_by_label("Description").input_value() == "The short version."
    status, found = await team.call("admin", "GET", "/api/tickets/")
    assert status == 200 and "A long story" not in {t["subject"] for t in found["results"]}

    await page.get_by_label("Attach files").set_input_files([])
    await page.get_by_role("button", name="Send request").click()
    await page.wait_for_url("**/portal/tickets/*/")
    ticket_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    await page.get_by_label("Your reply").fill("More detail here.")
    await page.get_by_label("Attach files").set_input_files(too_big)
    await page.get_by_role("button", name="Send reply").click()
    assert await page.get_by_text("big.bin").first.is_visible()
    assert await page.get_by_label("Your reply").input_value() == "More detail here."
    status, detail = await team.call("admin", "GET", f"/api/tickets/{ticket_id}/")
    assert status == 200
    bodies = [m["body"] for m in detail["messages"]]
    assert "The short version." in bodies and "More detail here." not in bodies


async def test_staff_opening_a_portal_ticket_land_on_its_conversation_page(team: Team):
    ticket = await team.open_ticket("carol", subject="Portal link shared with staff")
    async with _client() as http:
        await _signed_in(http, team.api.base, "agent1@localhost")
        url = f"{team.api.base}/portal/tickets/{ticket}/"
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == f"/app/tickets/{ticket}/"


async def _form_sign_in(http: aiohttp.ClientSession, base: str, who: str) -> None:
    """Sign in through the form as a team member (carol is the customer)."""
    async with http.get(f"{base}/login") as r:
        token = _csrf(await r.text())
    email = "carol@example.com" if who == "carol" else f"{who}@localhost"
    form = {"email": email, "password": PASSWORD, "csrf_token": token, "next": ""}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("admin", "/app/admin/mail/inbound/abc"),
        ("admin", "/app/tickets/abc/"),
        ("admin", "/app/no-such"),
        ("carol", "/portal/tickets/abc/"),
        ("carol", "/portal/no-such"),
    ],
)
async def test_a_page_address_that_names_nothing_is_an_html_404(team: Team, who: str, path: str):
    async with _client() as http:
        await _form_sign_in(http, team.api.base, who)
        async with http.get(f"{team.api.base}{path}") as r:
            assert r.status == 404
            assert r.content_type == "text/html"
            assert "Not found" in await r.text()


@pytest.mark.parametrize(
    ("who", "typed", "page"),
    [
        ("admin", "/app/admin/mail/?outbox=failed", "/app/admin/mail?outbox=failed"),
        (
            "admin",
            "/app/admin/people/?q=%0d%0aSet-Cookie:x",
            "/app/admin/people?q=%0D%0ASet-Cookie:x",
        ),
        ("admin", "/app/admin/people/", "/app/admin/people"),
        ("admin", "/app/tickets/{ticket}", "/app/tickets/{ticket}/"),
        ("carol", "/portal/tickets/{ticket}", "/portal/tickets/{ticket}/"),
    ],
)
async def test_a_page_address_typed_with_its_last_slash_the_other_way_is_sent_to_the_page(
    team: Team, who: str, typed: str, page: str
):
    ticket = await team.open_ticket("carol", subject="Slashes")
    typed, page = typed.format(ticket=ticket), page.format(ticket=ticket)
    async with _client() as http:
        await _form_sign_in(http, team.api.base, who)
        async with http.get(f"{team.api.base}{typed}", allow_redirects=False) as r:
            assert r.status == 308 and r.headers["Location"] == page
        async with http.get(f"{team.api.base}{typed}") as r:
            assert r.status == 200 and r.content_type == "text/html"
        # A form posted to the wrong form of the address is not redirected (its body would
        # be lost by some clients): the 404 page, as before.
        async with http.post(f"{team.api.base}{typed}", allow_redirects=False) as r:
            assert r.status in (403, 404, 405)


async def test_another_customer_s_request_answers_as_a_missing_one(team: Team):
    """Whatever is posted to another customer's request (a known action or none), the
    answer is the one a missing request gets: nothing tells that it exists."""
    theirs = await team.open_ticket("dave", subject="Dave's own request")
    async with _client() as http:
        async with http.get(f"{team.api.base}/login") as r:
            token = _csrf(await r.text())
        form = {"email": "carol@example.com", "password": PASSWORD, "csrf_token": token}
        async with http.post(f"{team.api.base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(f"{team.api.base}/portal/") as r:
            token = _csrf(await r.text())
        answers = {}
        for ticket in (theirs, 999_999):
            for action in ("resolve", "", "nonsense"):
                url = f"{team.api.base}/portal/tickets/{ticket}/status"
                body = {"csrf_token": token, "action": action}
                async with http.post(url, data=body, allow_redirects=False) as r:
                    answers[ticket, action] = r.status
    assert set(answers.values()) == {404}, answers
    status, detail = await team.call("dave", "GET", f"/api/tickets/{theirs}/")
    assert status == 200 and detail["status"] == "OPEN"


async def _portal(http, base: str, email: str) -> str:
    """A customer signed in with a plain client; answers the portal's CSRF token."""
    async with http.get(f"{base}/login") as r:
        token = _csrf(await r.text())
    form = {"email": email, "password": PASSWORD, "csrf_token": token}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        assert r.headers["Location"] == "/portal/"
    async with http.get(f"{base}/portal/") as r:
        return _csrf(await r.text())


async def _company_admin(team: Team, who: str = "carol") -> None:
    body = {"name": "Example", "domains": ["example.com"]}
    assert (await team.call("admin", "POST", "/api/admin/companies/", json=body))[0] == 201
    cora = {"is_company_admin": True}
    assert (await team.call("admin", "PATCH", f"/api/admin/users/{team.id(who)}/", json=cora))[
        0
    ] == 200


async def test_a_company_admin_reads_who_wrote_a_colleague_s_request(team: Team):
    """On a colleague's request the colleague's messages carry their name; "You" is only
    ever the viewer's own."""
    await _company_admin(team)
    theirs = await team.open_ticket("dave", subject="Dave's printer")
    mine = await team.open_ticket("carol", subject="Carol's screen")
    async with _client() as http:
        await _portal(http, team.api.base, "carol@example.com")
        async with http.get(f"{team.api.base}/portal/tickets/{theirs}/") as r:
            page = await r.text()
        assert r.status == 200
        assert "<strong>Dave</strong>" in page and "<strong>You</strong>" not in page
        async with http.get(f"{team.api.base}/portal/tickets/{mine}/") as r:
            assert "<strong>You</strong>" in await r.text()


@pytest.mark.parametrize("who", ["agent1", "zed", "abc"])
async def test_a_person_outside_the_company_shows_nobody_s_requests(
    team: Team, make_user, who: str
):
    """`?person=` naming someone who is not one of the company's (an agent, a customer of
    no company, not a number) narrows to nothing and says so; it never widens."""
    await _company_admin(team)
    await team.open_ticket("dave", subject="Dave's printer")
    if who == "zed":
        person = str((await make_user("zed@other.org", role="customer")).id)
    else:
        person = str(team.id(who)) if who != "abc" else "abc"
    async with _client() as http:
        await _portal(http, team.api.base, "carol@example.com")
        async with http.get(f"{team.api.base}/portal/", params={"person": person}) as r:
            page = await r.text()
        assert r.status == 200
        assert "Dave&#39;s printer" not in page and "Dave's printer" not in page
        assert "There is no such person among your company" in page
        async with http.get(f"{team.api.base}/portal/") as r:
            assert "Dave&#39;s printer" in await r.text()


async def test_an_unknown_status_action_is_an_html_page_in_words(team: Team):
    mine = await team.open_ticket("carol", subject="Carol's screen")
    async with _client() as http:
        token = await _portal(http, team.api.base, "carol@example.com")
        url = f"{team.api.base}/portal/tickets/{mine}/status"
        async with http.post(url, data={"csrf_token": token, "action": "explode"}) as r:
            assert r.status == 400 and r.content_type == "text/html"
            assert "That is not something a request can do." in await r.text()


def test_sizes_are_said_in_human_units():
    assert human_size(10 * 1024 * 1024) == "10 MB"
    assert human_size(64 * 1024) == "64 KB"
    assert human_size(1536 * 1024 * 1024) == "1.5 GB"
    assert human_size(900) == "900 bytes"


async def test_an_oversized_file_is_refused_in_human_units(team: Team, daemon: Running):
    limit = daemon.desk.settings.upload_max_bytes
    async with _client() as http:
        token = await _portal(http, team.api.base, "carol@example.com")
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("subject", "Big file")
        form.add_field("description", "See the file.")
        big = b"\0" * (limit + 1)
        form.add_field(
            "files", io.BytesIO(big), filename="x.bin", content_type="application/octet-stream"
        )
        async with http.post(f"{team.api.base}/portal/new", data=form) as r:
            page = await r.text()
        assert r.status == 400
        assert f"“x.bin” is larger than {human_size(limit)}." in page and str(limit) not in page


def _html_mail(sender: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Support <support@localhost>"
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.set_content("Plain version")
    msg.add_alternative(
        "<p>Rich <b>version</b></p><script>top.owned = 1</script>"
        '<img src="http://127.0.0.1:9/pixel.gif">',
        subtype="html",
    )
    return msg.as_bytes()


async def test_an_html_mail_shows_in_the_portal_in_a_sandboxed_frame(team: Team, daemon):
    """As in the workspace (the same template and handler): the HTML only inside a frame
    with no script, form or top navigation and no remote image; text-only mail as text."""
    await send(daemon.smtp_port, _html_mail("carol@example.com", "Rich mail"))
    await settled(daemon, 1)
    _, found = await team.call("carol", "GET", "/api/tickets/")
    [ticket] = [t["id"] for t in found["results"] if t["subject"] == "Rich mail"]
    _, detail = await team.call("carol", "GET", f"/api/tickets/{ticket}/")
    message = detail["messages"][0]["id"]
    reply = {"body": "A plain answer."}
    assert (await team.call("agent1", "POST", f"/api/tickets/{ticket}/messages/", json=reply))[
        0
    ] == 201
    async with _client() as http:
        await _portal(http, team.api.base, "carol@example.com")
        async with http.get(f"{team.api.base}/portal/tickets/{ticket}/") as r:
            page = await r.text()
        frame = re.search(r"<iframe [^>]*>", page)
        assert frame, page
        assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame.group(0)
        assert f'src="/portal/messages/{message}/html"' in frame.group(0)
        assert "<b>version</b>" not in page  # never in the page itself
        assert '<div class="body">A plain answer.</div>' in page
        async with http.get(f"{team.api.base}/portal/messages/{message}/html") as r:
            csp = r.headers["Content-Security-Policy"]
            assert "sandbox" in csp and "img-src data: cid:;" in csp
            assert "<b>version</b>" in await r.text()
    async with _client() as http:  # another customer: as if it did not exist
        await _portal(http, team.api.base, "dave@example.com")
        async with http.get(f"{team.api.base}/portal/messages/{message}/html") as r:
            assert r.status == 404
