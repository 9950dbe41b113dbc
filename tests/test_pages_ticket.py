"""The conversation page (`/app/tickets/<id>/`) in Chromium: a ticket mailed in over SMTP,
read and answered from the browser (the reply reaches the relay sink with its Cc and file;
a note never leaves), hostile mail HTML that runs nothing and loads nothing until asked,
the sidebar's workflow with its refusals, the API's access rules, the phone layout and
the accessibility check. Fields are found by label and buttons by name."""

from __future__ import annotations

import email.utils
import re
import struct
import zlib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from desk.models import OutboxMail, Suppression
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import free_port, http_server, rows, send, settled, wait_for, wait_for_value
from tests.test_pages_signin import _csrf, _signed_in

QUOTED = "Any news?\n\nOn Monday, Alice wrote:\n> My printer is on fire.\n> Please help."


def _png() -> bytes:
    """A 1x1 red PNG, built here (no test image files)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _mail(subject: str, text: str, html: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@example.com>"
    msg["To"] = "Support <support@localhost>"
    msg["Cc"] = "Bob Boss <bob@example.com>"
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        if "cid:logo@example.com" in html:
            [_, html_part] = msg.get_payload()
            html_part.add_related(_png(), "image", "png", cid="<logo@example.com>")
    return msg.as_bytes()


async def _mailed_ticket(
    team: Team, daemon, subject: str, text: str, html: str | None = None
) -> int:
    await send(daemon.smtp_port, _mail(subject, text, html))
    await settled(daemon, 1)
    code, found = await team.call("agent1", "GET", "/api/tickets/")
    assert code == 200, found
    [ticket] = [t for t in found["results"] if t["subject"] == subject]
    return int(ticket["id"])


async def _open(chromium, base: str, ticket: int, *, phone: bool = False, who: str = "agent1"):
    page = await new_page(chromium, phone=phone)
    await sign_in(page, base, f"{who}@localhost", PASSWORD)
    await page.goto(f"{base}/app/tickets/{ticket}/")
    await page.locator("body[data-live=following]").wait_for()  # the script caught up
    return page


async def test_a_mailed_ticket_is_answered_with_cc_and_a_file_and_a_note_stays_inside(
    team: Team, daemon, sink, chromium, tmp_path: Path
):
    base = team.api.base
    ticket = await _mailed_ticket(team, daemon, "Printer still on fire", QUOTED)
    page = await _open(chromium, base, ticket)
    first = page.locator(f"article#message-{(await _message_ids(team, ticket))[0]}")
    assert await first.locator(".side").inner_text() == "Customer"
    assert "Any news?" in await first.locator(".body").first.inner_text()
    # The quoted history is folded away until asked for.
    quoted = first.get_by_text("My printer is on fire.")
    assert not await quoted.is_visible()
    await first.get_by_text("Show quoted text").click()
    assert await quoted.is_visible()
    addressed = await first.locator(".addressed").inner_text()
    assert "support@localhost" in addressed and "Bob Boss <bob@example.com>" in addressed
    assert "it opened this ticket" in await first.locator(".why").inner_text()
    # The composer starts from the ticket's participants.
    assert "alice@example.com" in await page.get_by_label("To", exact=True).input_value()
    assert "bob@example.com" in await page.get_by_label("Cc").input_value()
    assert await serious_violations(page) == []
    await screenshot(page, "conversation")

    await page.get_by_label("Cc").fill("Bob Boss <bob@example.com>, carl@example.com")
    await page.get_by_label("Message").fill("We are sending a technician.")
    notes = tmp_path / "steps.txt"
    notes.write_text("1. Unplug the printer.\n")
    await page.get_by_label("Attachments").set_input_files(str(notes))
    await _submit(page, "Send")
    assert page.url.startswith(f"{base}/app/tickets/{ticket}/")
    reply = page.locator("article.side-agent")
    assert await reply.locator(".side").inner_text() == "Agent reply"
    assert await reply.get_by_role("link", name="steps.txt").is_visible()
    assert "text/plain" in await reply.locator(".attachments").inner_text()

    def replies() -> list[Any]:  # the acknowledgement went to alice before
        return [m for m in sink.to("alice@example.com") if m["Subject"].startswith("Re:")]

    [mail] = await wait_for_value(replies, what="the reply")
    assert "carl@example.com" in mail["Cc"] and "bob@example.com" in mail["Cc"]
    assert "alice@example.com" in mail["To"]
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "steps.txt"
    assert attached.get_content() == "1. Unplug the printer.\n"
    envelope_rcpts = {r for env, m in sink.messages if m is mail for r in env.rcpt_tos}
    assert envelope_rcpts == {"alice@example.com", "bob@example.com", "carl@example.com"}
    # The page's download goes through the same access check as the API's.
    async with page.expect_download() as download:
        await reply.get_by_role("link", name="steps.txt").click()
    assert (await download.value).suggested_filename == "steps.txt"

    # An internal note: shown as one, and nothing is queued for anyone outside the team.
    queued = len(await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket))
    await page.get_by_text("Note", exact=True).click()
    assert not await page.get_by_label("Cc").is_visible()  # a note has no recipients
    await page.get_by_label("Message").fill("Customer is upset; be gentle.")
    await _submit(page, "Send")
    note = page.locator("article.side-note")
    assert await note.locator(".side").inner_text() == "Internal note"
    assert "be gentle" in await note.locator(".body").inner_text()
    assert len(await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket)) == queued
    assert not any("be gentle" in m.as_string() for _, m in sink.messages)
    timeline = await page.locator(".timeline").inner_text()
    assert "changed the recipients from" in timeline and "carl@example.com" in timeline
    await screenshot(page, "conversation-replied")


async def test_files_dropped_on_the_composer_go_out_with_the_reply(
    team: Team, sink, chromium, tmp_path: Path
):
    """Drag-and-drop as the browser delivers it: a drop event whose DataTransfer holds a
    file, on the composer's message box; the file joins the one picked and both reach the
    customer."""
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Scanner jams")
    page = await _open(chromium, base, ticket)
    picked = tmp_path / "picked.txt"
    picked.write_text("picked by the file chooser\n")
    await page.get_by_label("Attachments").set_input_files(str(picked))
    dropped = await page.evaluate_handle(
        """() => {
          const files = new DataTransfer();
          files.items.add(new File(["1. Open the lid.\\n"], "dropped.txt", { type: "text/plain" }));
          return files;
        }"""
    )
    box = page.get_by_label("Message")
    for kind in ("dragenter", "dragover", "drop"):
        await box.dispatch_event(kind, {"dataTransfer": dropped})
    assert await page.locator(".composer-status").inner_text() == "2 file(s) attached."
    await box.fill("Two files for you.")
    await _submit(page, "Send")
    reply = page.locator("article.side-agent")
    for name in ("picked.txt", "dropped.txt"):
        assert await reply.get_by_role("link", name=name).is_visible()

    def replies() -> list[Any]:
        return [m for m in sink.to("carol@example.com") if "Two files" in m.as_string()]

    [mail] = await wait_for_value(replies, what="the reply")
    files = {a.get_filename(): a.get_content() for a in mail.iter_attachments()}
    assert files == {
        "picked.txt": "picked by the file chooser\n",
        "dropped.txt": "1. Open the lid.\n",
    }


async def _submit(page: Any, button: str) -> None:
    """Press a form's button and wait for the page it brings back."""
    async with page.expect_navigation():
        await page.get_by_role("button", name=button, exact=True).click()


async def _message_ids(team: Team, ticket: int) -> list[int]:
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert code == 200
    return [m["id"] for m in detail["messages"]]


async def test_hostile_mail_runs_nothing_and_loads_nothing_until_asked(
    team: Team, daemon, chromium
):
    hits: list[str] = []

    async def pixel(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"GIF89a", content_type="image/gif")

    port = free_port()
    html = (
        "<p>Hello</p>"
        "<script>parent.document.title = 'owned'; top.owned = 1; document.title = 'owned'</script>"
        "<img src=x onerror=\"parent.document.title='owned'; top.owned = 2\">"
        f'<form action="http://127.0.0.1:{port}/form"><input name=q><button>Go</button></form>'
        f'<a href="javascript:top.owned=3">click</a>'
        f'<img src="http://127.0.0.1:{port}/pixel.gif" width=1 height=1>'
        '<img src="cid:logo@example.com" alt="logo">'
    )
    async with http_server(port, "GET", "/{name}", pixel):
        ticket = await _mailed_ticket(team, daemon, "Invoice attached", "Hello", html)
        page = await _open(chromium, team.api.base, ticket)
        title = await page.title()
        [message] = await _message_ids(team, ticket)
        frame_element = page.locator(f"iframe[name=frame-{message}]")
        # A sandbox with no scripts, forms, top navigation or our origin.
        assert await frame_element.get_attribute("sandbox") == (
            "allow-popups allow-popups-to-escape-sandbox"
        )
        frame = page.frame(name=f"frame-{message}")
        assert frame is not None
        await frame.wait_for_load_state("load")  # every image it would load was tried by now
        assert "Hello" in await frame.locator("body").inner_text()
        # The mail's own embedded image shows (from the mail, as data:), the remote one not.
        logo = frame.locator("img[alt=logo]")
        assert await logo.evaluate("img => img.complete && img.naturalWidth") == 1
        assert await page.title() == title
        assert await page.evaluate("window.owned") is None
        assert hits == []
        await page.get_by_role("button", name="Load remote images").click()
        await wait_for_value(lambda: hits, what="the remote image, once asked for")
        assert hits == ["/pixel.gif"]
        assert await page.title() == title and await page.evaluate("window.owned") is None
        # The frame's own policy holds when its URL is opened alone, too.
        async with aiohttp.ClientSession() as http:
            cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
            url = f"{team.api.base}/app/messages/{message}/html"
            async with http.get(url, cookies=cookies) as r:
                assert r.status == 200
                csp = r.headers["Content-Security-Policy"]
                assert "script" not in csp and "sandbox" in csp and "img-src data: cid:;" in csp
                assert "<script" not in await r.text()


async def test_the_sidebar_moves_the_ticket_and_says_why_a_move_is_refused(team: Team, chromium):
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Broken login")
    page = await _open(chromium, base, ticket)
    await page.get_by_label("Assignee").select_option(label="Agent1 (me)")
    await _submit(page, "Set assignee")
    assert await page.get_by_label("Status").input_value() == "ASSIGNED"
    await page.get_by_label("Priority").select_option("HIGH")
    await _submit(page, "Set priority")
    await page.get_by_label("Tags").fill("Billing, urgent")
    await _submit(page, "Save tags")
    await page.get_by_label("Status").select_option("RESOLVED")
    await _submit(page, "Set status")
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert code == 200 and detail["status"] == "RESOLVED" and detail["priority"] == "HIGH"
    assert detail["tags"] == ["billing", "urgent"]
    assert await page.get_by_label("Tags").input_value() == "billing, urgent"
    # A move the workflow refuses: the page says why, and nothing changed.
    await page.get_by_label("Status").select_option("IN_PROGRESS")
    await _submit(page, "Set status")
    alert = await page.get_by_role("alert").inner_text()
    assert "Cannot move from RESOLVED to IN_PROGRESS" in alert
    assert await page.get_by_label("Status").input_value() == "RESOLVED"
    timeline = await page.locator(".timeline").inner_text()
    assert "Agent1 changed the status from" in timeline and "to Resolved" in timeline


async def test_a_reply_the_relay_refused_says_so_on_its_message(team: Team, daemon, sink, chromium):
    ticket = await team.open_ticket("carol", subject="Wrong address")
    sink.refuse = "550 5.1.1 <carol@example.com>: no such user here"
    code, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "We are on it."}
    )
    assert code == 201

    async def refused() -> list[OutboxMail]:
        return await rows(
            daemon,
            OutboxMail,
            OutboxMail.ticket_id == ticket,
            OutboxMail.kind == "reply",
            OutboxMail.state == "failed",
        )

    await wait_for(refused, what="the reply refused by the relay")
    page = await _open(chromium, team.api.base, ticket)
    reply = page.locator("article.side-agent")
    problem = await reply.locator(".undelivered").inner_text()
    assert problem.startswith("Not delivered:") and "no such user here" in problem
    assert await reply.get_by_role("link", name="Send it again from the outbox").count() == 0
    # An admin is shown where to send it again.
    page = await _open(chromium, team.api.base, ticket, who="admin")
    link = page.locator("article.side-agent").get_by_role(
        "link", name="Send it again from the outbox"
    )
    assert await link.get_attribute("href") == "/app/admin/mail?outbox=failed#outbox"


async def test_the_composer_warns_of_a_suppressed_recipient(team: Team, daemon, chromium):
    carol = team.users["carol"].email
    ticket = await team.open_ticket("carol", subject="Bounced before")
    page = await _open(chromium, team.api.base, ticket)
    assert await page.locator(".composer .suppressed").count() == 0
    async with daemon.desk.db.writer() as session:  # as a bounce of an earlier mail leaves it
        session.add(Suppression(address=carol, reason="5.1.1 (550 mailbox unavailable)"))
    await page.reload()
    warning = page.locator(".composer .suppressed")
    said = await warning.inner_text()
    assert carol in said and "550 mailbox unavailable" in said and "may bounce again" in said
    await page.get_by_text("Note", exact=True).click()  # a note goes to nobody
    assert not await warning.is_visible()


async def test_a_draft_survives_a_reload_and_send_and_resolve(team: Team, sink, chromium):
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Where is my parcel")
    page = await _open(chromium, base, ticket)
    await page.get_by_label("Message").fill("Your parcel left today.")
    await page.reload()
    assert await page.get_by_label("Message").input_value() == "Your parcel left today."
    assert await page.get_by_role("button", name="AI draft").count() == 0  # no Gemini here
    # A refused reply comes back with the reason and the text as typed.
    to = await page.get_by_label("To", exact=True).input_value()
    await page.get_by_label("To", exact=True).fill("")
    await _submit(page, "Send")
    assert "someone in To" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Message").input_value() == "Your parcel left today."
    await page.get_by_label("To", exact=True).fill(to)
    await _submit(page, "Send and resolve")
    assert await page.get_by_label("Status").input_value() == "RESOLVED"
    assert await page.get_by_label("Message").input_value() == ""  # the sent draft is gone
    await wait_for_value(lambda: sink.to("carol@example.com"), what="the reply to carol")


async def test_the_page_obeys_the_api_s_access_rules(team: Team):
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Private matter")
    assign = f"/api/tickets/{ticket}/assign/"
    assert (await team.call("agent2", "POST", assign, json={"assigned_agent": team.id("agent2")}))[
        0
    ] == 200
    form = aiohttp.FormData({"body": "Log attached.", "is_internal": "true"})
    form.add_field("files", b"trace", filename="trace.txt", content_type="text/plain")
    code, note = await team.call("agent2", "POST", f"/api/tickets/{ticket}/messages/", data=form)
    assert code == 201, note
    message = (await _message_ids_as(team, "agent2", ticket))[0]
    attachment = await _attachment_id(team, "agent2", ticket)
    # The default queue shows agent1 only unassigned tickets and their own: the API's 404.
    assert (await team.call("agent1", "GET", f"/api/tickets/{ticket}/"))[0] == 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent1@localhost")
        pages = ("tickets/{}/", "messages/{}/html", "attachments/{}")
        for path, row in zip(pages, (ticket, message, attachment), strict=True):
            async with http.get(f"{base}/app/{path.format(row)}") as r:
                assert r.status == 404, path
        form = {"csrf_token": token, "status": "RESOLVED"}
        async with http.post(f"{base}/app/tickets/{ticket}/status", data=form) as r:
            assert r.status == 404
        # Every post needs the page's CSRF token.
        async with http.post(f"{base}/app/tickets/{ticket}/status", data={"status": "OPEN"}) as r:
            assert r.status == 403
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent2@localhost")
        async with http.get(f"{base}/app/tickets/{ticket}/") as r:
            assert r.status == 200
        async with http.get(f"{base}/app/attachments/{attachment}") as r:
            assert r.status == 200 and await r.read() == b"trace"
            assert r.headers["Content-Disposition"].startswith("attachment;")
        forged = {"csrf_token": "forged", "mode": "note", "body": "x"}
        async with http.post(f"{base}/app/tickets/{ticket}/messages", data=forged) as r:
            assert r.status == 403
    assert len(await _message_ids_as(team, "agent2", ticket)) == 2


async def test_the_page_refuses_two_customers_merge_and_writing_on_a_merged_ticket(team: Team):
    base = team.api.base
    carols = await team.open_ticket("carol", subject="Carol's invoice")
    daves = await team.open_ticket("dave", subject="Dave's invoice")
    again = await team.open_ticket("carol", subject="Carol's invoice again")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "admin@localhost")
        form = {"csrf_token": token, "into": str(daves)}
        async with http.post(f"{base}/app/tickets/{carols}/merge", data=form) as r:
            assert r.status == 409
            assert "belong to different customers" in await r.text()
        form = {"csrf_token": token, "into": f"#{again}"}
        async with http.post(f"{base}/app/tickets/{carols}/merge", data=form) as r:
            assert r.status == 200 and r.url.path == f"/app/tickets/{again}/"  # to the result
        form = {"csrf_token": token, "mode": "reply", "to": "", "cc": "", "body": "Late"}
        async with http.post(f"{base}/app/tickets/{carols}/messages", data=form) as r:
            assert r.status == 409
            assert f"This ticket was merged into #{again}; write there." in await r.text()
    code, detail = await team.call("admin", "GET", f"/api/tickets/{daves}/")
    assert code == 200 and detail["merged_into"] is None
    code, detail = await team.call("admin", "GET", f"/api/tickets/{carols}/")
    assert code == 200 and detail["merged_into"] == again and detail["messages"] == []


async def _attachment_id(team: Team, who: str, ticket: int) -> int:
    code, detail = await team.call(who, "GET", f"/api/tickets/{ticket}/")
    assert code == 200
    return int(next(a["id"] for m in detail["messages"] for a in m["attachments"]))


async def _message_ids_as(team: Team, who: str, ticket: int) -> list[int]:
    code, detail = await team.call(who, "GET", f"/api/tickets/{ticket}/")
    assert code == 200
    return [m["id"] for m in detail["messages"]]


async def test_the_phone_layout_is_one_usable_column(team: Team, daemon, chromium):
    ticket = await _mailed_ticket(team, daemon, "Small screen", QUOTED)
    page = await _open(chromium, team.api.base, ticket, phone=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing sideways
    send_button = page.get_by_role("button", name="Send", exact=True)
    await send_button.scroll_into_view_if_needed()
    box = await send_button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    status = page.get_by_label("Status")
    await status.scroll_into_view_if_needed()
    assert await status.is_visible()
    assert await serious_violations(page) == []
    await page.evaluate("window.scrollTo(0, 0)")
    await screenshot(page, "conversation-phone")


async def test_a_colleague_s_reply_shows_up_without_a_reload(team: Team, chromium):
    ticket = await team.open_ticket("carol", subject="Live one")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Message").fill("half-written answer")
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "I am on it.", "is_internal": True},
    )
    assert code == 201
    note = page.locator("article.side-note")
    await note.wait_for()
    assert "I am on it." in await note.locator(".body").inner_text()
    assert await page.get_by_label("Message").input_value() == "half-written answer"


async def test_keys_assign_resolve_and_open_the_composer(team: Team, chromium):
    ticket = await team.open_ticket("carol", subject="Keyboard person")
    page = await _open(chromium, team.api.base, ticket)
    async with page.expect_navigation():
        await page.keyboard.press("a")
    assert await page.get_by_label("Assignee").input_value() == str(team.id("agent1"))
    await page.locator("body[data-live=following]").wait_for()
    async with page.expect_navigation():
        await page.keyboard.press("e")
    assert await page.get_by_label("Status").input_value() == "RESOLVED"
    await page.locator("body[data-live=following]").wait_for()
    await page.keyboard.press("n")
    assert await page.get_by_label("Note").is_checked()
    assert await page.evaluate("document.activeElement.id") == "composer-body"
    await page.keyboard.type("n")  # typed into the note, not taken as a key
    assert await page.get_by_label("Message").input_value() == "n"
    await page.evaluate("document.activeElement.blur()")
    await page.keyboard.press("?")
    assert await page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()


async def test_the_history_reads_as_sentences(team: Team, daemon):
    """Statuses in the page's words, people by name, merges and unmerges as a person would
    say them: never "from OPEN to WAITING_ON_CUSTOMER" or "changed merged into from 1 to
    nobody"."""
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Sentences")
    other = await team.open_ticket("carol", subject="Sentences again")
    path = f"/api/tickets/{ticket}/"
    status = {"status": "WAITING_ON_CUSTOMER"}
    assert (await team.call("admin", "POST", path + "set-status/", json=status))[0] == 200
    assign = {"assigned_agent": team.id("agent1")}
    assert (await team.call("admin", "POST", path + "assign/", json=assign))[0] == 200
    assign = {"assigned_agent": None}
    assert (await team.call("admin", "POST", path + "assign/", json=assign))[0] == 200
    assert (await team.call("admin", "POST", path + "merge/", json={"into": other}))[0] == 200
    assert (await team.call("admin", "POST", path + "unmerge/"))[0] == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _signed_in(http, base, "admin@localhost")
        timelines = {}
        for row in (ticket, other):
            async with http.get(f"{base}/app/tickets/{row}/") as r:
                assert r.status == 200
                html = await r.text()
            timeline = html[
                html.index('<ol class="timeline">') : html.index(
                    "</ol>", html.index('<ol class="timeline">')
                )
            ]
            timelines[row] = " ".join(re.sub(r"<[^>]+>", " ", timeline).split())
    said = timelines[ticket]
    for sentence in (
        "Admin changed the status from Open to Waiting on customer",
        "Admin assigned the ticket to Agent1",
        "Admin unassigned the ticket (it was with Agent1)",
        f"Admin merged this ticket into #{other}",
        f"Admin took this ticket out of #{other}",
    ):
        assert sentence in said, said
    assert "WAITING_ON_CUSTOMER" not in said and "nobody" not in said
    assert f"Admin merged #{ticket} into this ticket" in timelines[other]
    assert f"Admin took #{ticket} back out of it" in timelines[other]


async def test_the_sidebar_follows_live_changes_except_the_fields_being_edited(
    team: Team, chromium
):
    """Agent1 is half-way through editing Tags and Priority when agent2 gives them the
    ticket: Assignee and Status follow at once, the unsaved Tags and Priority stay."""
    ticket = await team.open_ticket("carol", subject="Busy sidebar")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Tags").fill("billing, half-typed")
    await page.get_by_label("Priority").select_option("URGENT")
    code, _ = await team.call(
        "agent2",
        "POST",
        f"/api/tickets/{ticket}/assign/",
        json={"assigned_agent": team.id("agent1")},
    )
    assert code == 200
    assignee = page.get_by_label("Assignee")
    await wait_for(lambda: _value_is(assignee, str(team.id("agent1"))), what="the assignee, live")
    assert await page.get_by_label("Status").input_value() == "ASSIGNED"
    assert await page.get_by_label("Tags").input_value() == "billing, half-typed"
    assert await page.get_by_label("Priority").input_value() == "URGENT"
    assert "assigned the ticket to Agent1" in await page.locator(".timeline").inner_text()
    await _submit(page, "Set priority")  # the kept edit still saves
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert detail["priority"] == "URGENT" and detail["assigned_agent_id"] == team.id("agent1")


async def _value_is(field: Any, value: str) -> bool:
    return await field.input_value() == value


async def test_only_the_composer_s_file_picker_is_named_attachments(
    team: Team, chromium, tmp_path: Path
):
    """A message's files are a list named "Attached files"; "Attachments" is the
    composer's file picker alone (screen readers and tests find it by that name)."""
    ticket = await team.open_ticket("carol", subject="Named once")
    page = await _open(chromium, team.api.base, ticket)
    notes = tmp_path / "notes.txt"
    notes.write_text("one\n")
    await page.get_by_label("Attachments").set_input_files(str(notes))
    await page.get_by_label("Message").fill("A file.")
    await _submit(page, "Send")
    named = page.get_by_label("Attachments")
    assert await named.count() == 1
    assert await named.get_attribute("type") == "file"
    files = page.locator("article.side-agent").get_by_role("list", name="Attached files")
    assert await files.get_by_role("link", name="notes.txt").is_visible()


def _header_links(html: str) -> set[str]:
    """The header's links and sign-out, by what they say."""
    top = html.split('<header class="top">', 1)[1].split("</header>", 1)[0]
    said = {text.strip() for text in re.findall(r"<a [^>]*>([^<]+)<", top)}
    return said | ({"Sign out"} if ">Sign out</button>" in top else set())


async def test_error_and_collision_pages_keep_the_signed_in_header(team: Team):
    """Found by a tester: a 404 or 400 page, and the page warning of a colleague's answer
    (409), had no Inbox, Chat, bell or Sign out for a signed-in agent."""
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Header everywhere")
    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "Mine first."}
    )
    assert code == 201
    staff = {"Inbox", "Chat", "Sign out"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent1@localhost")
        for path in ("/app/tickets/999999/", "/app/no-such-page", "/app/tickets/x/"):
            async with http.get(base + path) as r:
                assert r.status == 404, path
                links = _header_links(await r.text())
            assert staff | {"Notifications ("} <= links, (path, links)
        async with http.post(f"{base}/app/no-such-page", data={"csrf_token": token}) as r:
            assert r.status == 404
            assert staff <= _header_links(await r.text())
        form = {"csrf_token": token, "body": "Late.", "seen": "1"}
        async with http.post(f"{base}/app/tickets/{ticket}/messages", data=form) as r:
            assert r.status == 409
            links = _header_links(await r.text())
        assert staff | {"Notifications ("} <= links, links
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/login") as r:
            token = _csrf(await r.text())
        form = {"email": "carol@example.com", "password": PASSWORD, "csrf_token": token}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(f"{base}/portal/") as r:
            token = _csrf(await r.text())
        form = {"csrf_token": token, "action": "explode"}
        async with http.post(f"{base}/portal/tickets/{ticket}/status", data=form) as r:
            assert r.status == 400
            links = _header_links(await r.text())
        assert {"My requests", "Sign out"} <= links and "Inbox" not in links, links
