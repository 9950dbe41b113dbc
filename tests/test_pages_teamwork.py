"""Working as a team on the conversation page, in Chromium: who else is viewing or
replying (two agents' browsers), the warning before sending over a colleague's answer
("Send anyway"), saved replies inserted into the composer (with and without the page's
script), and merging a ticket into another with its minute to undo. Fields are found by
label and buttons by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.pages import screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import wait_for_value
from tests.test_pages_signin import _signed_in
from tests.test_pages_ticket import _message_ids, _open, _submit


async def test_two_agents_see_each_other_viewing_and_replying(team: Team, chromium):
    ticket = await team.open_ticket("carol", subject="Who is on it")
    anna = await _open(chromium, team.api.base, ticket, who="agent1")
    ben = await _open(chromium, team.api.base, ticket, who="agent2")
    region = anna.locator("#presence")
    assert await region.get_attribute("aria-live") == "polite"
    await anna.get_by_text("Agent2 is viewing").wait_for()
    await ben.get_by_text("Agent1 is viewing").wait_for()
    assert "Agent1" not in await region.inner_text()  # never myself

    await ben.get_by_label("Message").fill("Hello Carol, ")
    await anna.get_by_text("Agent2 is replying").wait_for()
    await screenshot(anna, "conversation-presence")
    await ben.get_by_label("Message").fill("")
    await anna.get_by_text("Agent2 is viewing").wait_for()

    await ben.close()  # the page goes: "left" (and its socket closes)
    await anna.locator("#presence:not(.someone)").wait_for()
    assert await region.inner_text() == ""


async def test_a_colleague_s_answer_is_shown_before_sending_over_it(team: Team, sink, chromium):
    ticket = await team.open_ticket("carol", subject="Two answers")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Message").fill("My answer, written slowly.")
    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "Fixed it already."}
    )
    assert code == 201
    await _submit(page, "Send")
    warning = page.get_by_role("alert")
    assert "Agent2 replied since you opened this page" in await warning.inner_text()
    assert await page.get_by_label("Message").input_value() == "My answer, written slowly."
    assert await page.locator("article.side-agent").count() == 1  # theirs only: nothing sent
    assert await serious_violations(page) == []

    await _submit(page, "Send anyway")
    assert await page.locator("article.side-agent").count() == 2

    def mine() -> list[Any]:
        return [m for _, m in sink.messages if "written slowly" in m.as_string()]

    [mail] = await wait_for_value(mine, what="the reply sent anyway")
    assert "carol@example.com" in mail["To"]


async def test_send_anyway_sends_the_files_picked_before_the_warning(
    team: Team, sink, chromium, tmp_path: Path
):
    ticket = await team.open_ticket("carol", subject="Files and a collision")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Message").fill("The log you asked for.")
    log = tmp_path / "printer-log.txt"
    log.write_text("paper jam at tray 2\n")
    await page.get_by_label("Attachments").set_input_files(str(log))
    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "On it."}
    )
    assert code == 201
    await _submit(page, "Send")
    warning = await page.get_by_role("alert").inner_text()
    assert "Agent2 replied since you opened this page" in warning
    assert "pick any files again" not in warning
    assert "printer-log.txt" in await page.locator("form.composer").inner_text()

    await _submit(page, "Send anyway")
    reply = page.locator("article.side-agent").last
    assert await reply.get_by_role("link", name="printer-log.txt").is_visible()

    def mine() -> list[Any]:
        return [m for _, m in sink.messages if "The log you asked for" in m.as_string()]

    [mail] = await wait_for_value(mine, what="the reply sent anyway")
    files = {a.get_filename(): a.get_content() for a in mail.iter_attachments()}
    assert files == {"printer-log.txt": "paper jam at tray 2\n"}


async def test_files_kept_after_the_warning_serve_their_agent_only(team: Team):
    """The reference to the kept files is the agent's, for this ticket: a colleague (or
    another ticket) presenting it is refused and nothing is sent."""
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Whose files")
    other = await team.open_ticket("carol", subject="Another ticket")
    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "Mine first."}
    )
    assert code == 201
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent1@localhost")
        form = aiohttp.FormData({"csrf_token": token, "body": "With a file.", "seen": "1"})
        form.add_field("files", b"secret bytes\n", filename="a.txt", content_type="text/plain")
        async with http.post(f"{base}/app/tickets/{ticket}/messages", data=form) as r:
            assert r.status == 409
            page = await r.text()
        [kept] = re.findall(r'name="kept_files" value="([^"]+)"', page)
        form = {"csrf_token": token, "body": "Elsewhere.", "anyway": "1", "kept_files": kept}
        async with http.post(f"{base}/app/tickets/{other}/messages", data=form) as r:
            assert r.status == 400 and "pick the files again" in await r.text()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent2@localhost")
        form = {"csrf_token": token, "body": "Not mine.", "anyway": "1", "kept_files": kept}
        async with http.post(f"{base}/app/tickets/{ticket}/messages", data=form) as r:
            assert r.status == 400 and "not yours" in await r.text()
    for t in (ticket, other):
        code, detail = await team.call("agent1", "GET", f"/api/tickets/{t}/")
        assert not any(m["attachments"] for m in detail["messages"])


async def test_my_own_answer_is_no_reason_to_warn(team: Team, chromium):
    ticket = await team.open_ticket("carol", subject="Only me")
    page = await _open(chromium, team.api.base, ticket)
    code, _ = await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "A note of mine.", "is_internal": True},
    )
    assert code == 201
    await page.get_by_label("Message").fill("Straight through.")
    await _submit(page, "Send")
    assert await page.get_by_role("alert").count() == 0
    assert "Straight through." in await page.locator("article.side-agent").last.inner_text()


async def test_the_customer_s_new_mail_is_shown_before_sending(team: Team, sink, chromium):
    ticket = await team.open_ticket("carol", subject="Customer meanwhile")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Message").fill("Please restart it.")
    code, posted = await team.call(
        "carol", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "I restarted it."}
    )
    assert code == 201
    await page.locator("article.side-customer").nth(1).wait_for()  # shown live
    await _submit(page, "Send")
    warning = await page.get_by_role("alert").inner_text()
    assert "Carol wrote since you opened this page" in warning
    new = page.get_by_role("list", name="New since you opened this page")
    link = new.get_by_role("link", name="Carol: customer")
    assert await link.get_attribute("href") == f"#message-{posted['id']}"
    assert await page.locator("article.side-agent").count() == 0  # nothing sent
    assert await page.get_by_label("Message").input_value() == "Please restart it."
    assert await serious_violations(page) == []
    await _submit(page, "Send anyway")
    assert "Please restart it." in await page.locator("article.side-agent").last.inner_text()


async def _saved_reply(team: Team, title: str, body: str) -> int:
    code, made = await team.call(
        "admin", "POST", "/api/saved-replies/", json={"title": title, "body": body}
    )
    assert code == 201, made
    return int(made["id"])


async def test_a_saved_reply_is_inserted_filled_in_for_the_ticket(team: Team, chromium):
    await _saved_reply(team, "Greeting", "Hello {{ customer.first_name }}, about {{ ticket.id }}:")
    ticket = await team.open_ticket("carol", subject="Saved words")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Message").fill("")
    await page.get_by_label("Insert saved reply").select_option(label="Greeting")
    message = page.get_by_label("Message")
    await page.get_by_role("status").filter(has_text='Inserted "Greeting".').wait_for()
    assert await message.input_value() == f"Hello Carol, about {ticket}:"
    assert await serious_violations(page) == []


async def test_a_saved_reply_is_inserted_without_the_page_s_script(team: Team, chromium):
    await _saved_reply(team, "Signature", "Best, {{ agent.name }}")
    ticket = await team.open_ticket("carol", subject="No script here")
    context = await chromium.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/tickets/{ticket}/")
    await page.get_by_label("Message").fill("Done.")
    await page.get_by_label("Insert saved reply").select_option(label="Signature")
    await _submit(page, "Insert")
    assert await page.get_by_label("Message").input_value() == "Done.\n\nBest, Agent1"


async def test_a_ticket_is_merged_into_a_suggested_one_and_the_merge_undone(team: Team, chromium):
    first = await team.open_ticket("carol", subject="Printer broke")
    second = await team.open_ticket("carol", subject="Printer still broken")
    moving = await _message_ids(team, second)
    page = await _open(chromium, team.api.base, second)
    suggested = page.locator("#merge-suggestions option")
    assert await suggested.evaluate_all("os => os.map(o => o.value)") == [str(first)]
    await page.get_by_label("Merge into…").fill(str(first))
    await _submit(page, "Merge")
    assert page.url == f"{team.api.base}/app/tickets/{first}/"
    for moved in moving:  # its messages are here now
        assert await page.locator(f"article#message-{moved}").count() == 1
    undo = page.get_by_role("button", name="Undo merge")
    assert await undo.is_visible()
    assert await serious_violations(page) == []
    await screenshot(page, "conversation-merged")
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{second}/")
    assert code == 200 and detail["merged_into"] == first

    await _submit(page, "Undo merge")
    assert page.url == f"{team.api.base}/app/tickets/{second}/"
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{second}/")
    assert detail["merged_into"] is None and detail["status"] != "CLOSED"
    assert await page.get_by_label("Merge into…").is_visible()


async def test_a_refused_merge_says_why_on_the_page(team: Team, chromium):
    ticket = await team.open_ticket("carol", subject="Alone")
    page = await _open(chromium, team.api.base, ticket)
    await page.get_by_label("Merge into…").fill(str(ticket))
    await _submit(page, "Merge")
    assert "cannot be merged into itself" in await page.get_by_role("alert").inner_text()


async def test_the_new_posts_obey_the_api_s_access_rules_and_need_the_csrf_token(team: Team):
    base = team.api.base
    reply = await _saved_reply(team, "Thanks", "Thanks!")
    hidden = await team.open_ticket("carol", subject="Not agent1's")
    other = await team.open_ticket("carol", subject="Another")
    for ticket in (hidden, other):
        code, _ = await team.call(
            "agent2",
            "POST",
            f"/api/tickets/{ticket}/assign/",
            json={"assigned_agent": team.id("agent2")},
        )
        assert code == 200
    posts = {
        "saved-reply": {"saved_reply": str(reply), "body": ""},
        "merge": {"into": str(other)},
        "unmerge": {},
    }
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent1@localhost")
        for path, form in posts.items():
            url = f"{base}/app/tickets/{hidden}/{path}"
            async with http.post(url, data=form | {"csrf_token": token}) as r:
                assert r.status == 404, path  # unseen: the API's 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, base, "agent2@localhost")
        for path, form in posts.items():
            url = f"{base}/app/tickets/{hidden}/{path}"
            async with http.post(url, data=form) as r:
                assert r.status == 403, path  # no CSRF token
        async with http.post(
            f"{base}/app/tickets/{hidden}/unmerge", data={"csrf_token": token}
        ) as r:
            assert r.status == 409 and "not merged" in (await r.text()).lower()
    code, detail = await team.call("agent2", "GET", f"/api/tickets/{hidden}/")
    assert detail["merged_into"] is None


async def test_after_the_warning_the_page_stays_live_and_a_reload_posts_nothing(
    team: Team, chromium
):
    ticket = await team.open_ticket("carol", subject="Still following")
    anna = await _open(chromium, team.api.base, ticket, who="agent1")
    ben = await _open(chromium, team.api.base, ticket, who="agent2")
    await ben.get_by_label("Message").fill("Ben's answer.")
    await _submit(ben, "Send")
    await anna.get_by_label("Message").fill("Anna's slower answer.")
    await _submit(anna, "Send")
    assert "Agent2 replied since" in await anna.get_by_role("alert").inner_text()
    await anna.locator("body[data-live=following]").wait_for()
    # The address is the ticket's own, not the POST-only form target.
    assert await anna.evaluate("location.pathname") == f"/app/tickets/{ticket}/"

    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "One more thing."}
    )
    assert code == 201
    await anna.locator("article.side-agent", has_text="One more thing.").wait_for()

    await anna.reload()  # a GET of the ticket: nothing is posted again
    await anna.locator("body[data-live=following]").wait_for()
    assert await anna.get_by_label("Message").input_value() == "Anna's slower answer."
    code, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert code == 200
    assert not any("slower" in m["body"] for m in detail["messages"])
