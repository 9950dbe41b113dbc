"""The inbox in a real browser: mail sent over SMTP shows up as a row with the customer, a
preview and its status; views count; search highlights; keys move and open; a new ticket
appears without a reload; the phone layout is one column."""

from __future__ import annotations

from collections.abc import Callable

from daemon.lifecycle import Running
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.sockets import next_event
from tests.support import make_mail, send, settled


async def _mail(running: Running, n: int, subject: str, body: str, sender: str) -> None:
    raw, _ = make_mail(subject=subject, body=body, sender=sender, name="Alice Customer")
    await send(running.desk.settings.smtp_port, raw, sender=sender)
    await settled(running, n)


async def test_inbox_rows_views_search_and_keys(team: Team, daemon: Running, chromium):
    await _mail(
        daemon, 1, "Printer on fire", "Flames everywhere, please help.", "alice@example.com"
    )
    await _mail(daemon, 2, "Invoice copy", "I need the March invoice again.", "bob@example.com")
    base = team.api.base
    page = await new_page(chromium)
    await sign_in(page, base, "agent1@localhost", PASSWORD)
    row = page.get_by_role("row", name="Printer on fire")
    assert await row.get_by_text("alice@example.com").is_visible()
    assert await row.get_by_text("Flames everywhere, please help.").is_visible()
    unassigned = page.get_by_role("link", name="Unassigned")
    assert (await unassigned.inner_text()).split()[-1] == "2"
    assert await serious_violations(page) == []
    await screenshot(page, "inbox")

    await page.get_by_label("Search").fill("invoice")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_load_state()
    rows = page.locator("table.tickets tbody tr")
    assert await rows.count() == 1
    assert await rows.first.locator("mark").first.inner_text() in ("invoice", "Invoice")

    await page.get_by_role("link", name="All open").click()
    await page.get_by_label("Sort by").select_option("created")
    await page.wait_for_url("**sort=created**")
    first = page.locator("table.tickets tbody tr").first
    assert "Invoice copy" in await first.inner_text()  # newest first

    await page.keyboard.press("?")
    assert await page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    await page.get_by_role("button", name="Close").click()
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    assert await page.locator("tr.selected").get_attribute("data-ticket") == "1"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/app/tickets/1/")


async def test_a_new_ticket_appears_without_reload(team: Team, daemon: Running, chromium):
    base = team.api.base
    page = await new_page(chromium)
    await sign_in(page, base, "agent1@localhost", PASSWORD)
    assert await page.get_by_text("No tickets here.").is_visible()
    await page.locator("html[data-live=connected]").wait_for(state="attached")
    await page.evaluate("window.__same_page = true")
    await _mail(daemon, 1, "Live one", "Arrived while you looked.", "alice@example.com")
    await page.get_by_role("link", name="#1 Live one").wait_for()
    assert await page.evaluate("window.__same_page") is True  # no reload happened


async def test_phone_layout_is_one_column(team: Team, daemon: Running, chromium):
    await _mail(daemon, 1, "Small screen", "Reading on a phone.", "alice@example.com")
    page = await new_page(chromium, phone=True)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    views = await page.get_by_role("navigation", name="Views").bounding_box()
    table = await page.locator("table.tickets").bounding_box()
    assert views and table and table["y"] >= views["y"] + views["height"]  # stacked
    assert table["width"] <= 390
    assert await serious_violations(page) == []
    await screenshot(page, "inbox-phone")


async def test_an_agent_sees_only_what_the_api_shows(team: Team, daemon: Running, chromium):
    """agent2 does not see agent1's ticket in an `assigned` queue: the page hides it too."""
    await _mail(daemon, 1, "Private matter", "For agent1 only.", "alice@example.com")
    code, _ = await team.call(
        "agent1", "POST", "/api/tickets/1/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert code == 200
    api_code, listed = await team.call("agent2", "GET", "/api/tickets/")
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent2@localhost", PASSWORD)
    await page.get_by_role("link", name="All open").click()
    shown = await page.locator("table.tickets tbody tr").count()
    assert api_code == 200 and shown == listed["count"]
    assert not await page.get_by_text("Private matter").count()


async def test_the_inbox_socket_carries_only_what_the_caller_may_see(team: Team, live):
    """/ws/inbox/ follows the list's rule: agent2 hears of carol's ticket until agent1 takes
    it (an `assigned` queue), and carol hears of her ticket but never of its notes. Frames
    are read in order up to a known later one, so a frame that should not come would show."""
    agent2 = await live.connect("agent2", "/ws/inbox/")
    carol = await live.connect("carol", "/ws/inbox/")
    t = await team.open_ticket("carol", "Seen by the team")
    note = {"body": "internal only", "is_internal": True}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json=note))[0] == 201
    mine = {"assigned_agent": team.id("agent1")}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/assign/", json=mine))[0] == 200
    reply = {"body": "We are on it."}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json=reply))[0] == 201
    other = await team.open_ticket("dave", "Next one")

    async def frames_until(ws, last: Callable[[dict], bool]) -> list[dict]:
        seen = [await next_event(ws)]
        while not last(seen[-1]):
            seen.append(await next_event(ws))
        return seen

    def bodies(frames: list[dict]) -> list[str]:
        return [f["data"]["message"]["body"] for f in frames if f["type"] == "message_created"]

    to_carol = await frames_until(carol, lambda f: "We are on it." in bodies([f]))
    assert to_carol[0]["type"] == "ticket_created" and to_carol[0]["ticket_id"] == t
    assert "internal only" not in bodies(to_carol)
    to_agent2 = await frames_until(agent2, lambda f: f["ticket_id"] == other)
    assert "internal only" in bodies(to_agent2)  # staff who see the ticket see its notes
    # Once agent1 took it, agent2 heard nothing more of it: no public reply.
    assert "We are on it." not in bodies(to_agent2)
    for ws in (agent2, carol):
        await ws.close()


async def test_a_search_the_syntax_refuses_keeps_the_inbox_and_says_why(
    team: Team, daemon: Running, chromium
):
    """Found by a tester: searching `-`, `"`, `*` or a NUL character showed an error page
    in place of the inbox. The inbox stays, the search box holds what was typed and the
    reason is said beside it."""
    await _mail(daemon, 1, "Printer on fire", "Flames everywhere.", "alice@example.com")
    base = team.api.base
    page = await new_page(chromium)
    await sign_in(page, base, "agent1@localhost", PASSWORD)
    for typed, reason in (
        ("-", "search for at least one word"),
        ('"', "search for at least one word"),
        ("*", "search for at least one word"),
        ("printer\x00", "NUL character"),
    ):
        await page.get_by_label("Search").fill(typed)
        await page.get_by_role("button", name="Apply").click()
        await page.wait_for_load_state()
        box = page.get_by_label("Search")
        assert await box.is_visible(), typed
        assert (await box.input_value()).replace("\ufffd", "\x00") == typed
        said = await page.get_by_role("alert").inner_text()
        assert reason in said, (typed, said)
        assert await box.get_attribute("aria-invalid") == "true"
        assert await page.get_by_role("row", name="Printer on fire").is_visible(), typed
        assert await page.get_by_role("link", name="Inbox").is_visible()
    assert await serious_violations(page) == []
