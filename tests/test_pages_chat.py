"""The team chat and the bell in a real browser: two agents in two browsers chat live
(typing shown, messages appear without a reload), `#123` links to the ticket, `@name`
is marked and rings the named agent's bell; the form works without JavaScript; the bell
counts up live when the admin assigns a ticket, lists it, and "Mark all read" clears it."""

from __future__ import annotations

from typing import Any

from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team


async def _room(team: Team) -> int:
    members = [team.id("agent1"), team.id("agent2")]
    body = {"name": "ops", "type": "group", "participant_ids": members}
    status, room = await team.call("agent1", "POST", "/api/chat/rooms/", json=body)
    assert status == 201, room
    return int(room["id"])


async def _same_page(page: Any) -> None:
    """Mark the page, so a later check can tell it was never reloaded."""
    await page.evaluate("window.__same_page = true")


async def test_two_agents_chat_live(team: Team, daemon: Any, chromium: Any) -> None:
    ticket = await team.open_ticket("carol", "Printer on fire")
    room = await _room(team)
    said = {"room": room, "body": "morning all"}
    assert (await team.call("agent2", "POST", "/api/chat/messages/", json=said))[0] == 201

    one = await new_page(chromium)
    await sign_in(one, team.api.base, "agent1@localhost", PASSWORD)
    await one.get_by_role("link", name="Chat", exact=True).click()
    ops = one.get_by_role("navigation", name="Rooms").get_by_role("link", name="ops")
    assert (await ops.inner_text()).split() == ["ops", "1", "unread"]
    await ops.click()
    await one.wait_for_url(f"**/app/chat/{room}/")
    assert await one.get_by_text("morning all").is_visible()
    assert (await ops.inner_text()).split() == ["ops"]  # opening the room read it

    two = await new_page(chromium)
    await sign_in(two, team.api.base, "agent2@localhost", PASSWORD)
    await two.goto(f"{team.api.base}/app/chat/{room}/")
    for page in (one, two):
        await page.locator("html[data-live=connected]").wait_for(state="attached")
        await page.locator("#bell[data-live=connected]").wait_for(state="attached")
        await _same_page(page)

    await two.get_by_label("Message").press_sequentially("@agent1 see")
    await one.get_by_text("Agent2 is typing…").wait_for()
    await two.get_by_label("Message").press_sequentially(f" #{ticket} please")
    await two.get_by_role("button", name="Send").click()

    text = f"@agent1 see #{ticket} please"
    for page in (one, two):
        await page.locator("ol.chat-log li", has_text=text).wait_for()
    await one.get_by_text("Agent2 is typing…").wait_for(state="detached")
    assert await one.locator("mark.mention").last.inner_text() == "@agent1"
    # The mention rang agent1's bell, live; agent2 (the author) was not notified.
    await one.get_by_role("link", name="Notifications (1)").wait_for()
    assert await two.get_by_role("link", name="Notifications (0)").is_visible()
    assert await one.evaluate("window.__same_page") is True
    assert await two.evaluate("window.__same_page") is True
    assert await two.get_by_label("Message").input_value() == ""
    assert await serious_violations(one) == []
    await screenshot(one, "chat")

    await one.get_by_role("link", name=f"#{ticket}", exact=True).click()
    await one.wait_for_url(f"**/app/tickets/{ticket}/")
    assert await one.get_by_role("heading", name="Printer on fire").count()

    await one.get_by_role("link", name="Notifications (1)").click()
    await one.wait_for_url("**/app/notifications")
    line = one.locator("li.notification").first
    assert "Agent2 mentioned you: @agent1 see" in await line.inner_text()
    await line.get_by_role("link").click()
    await one.wait_for_url(f"**/app/chat/{room}/")


async def test_the_chat_form_works_without_javascript(
    team: Team, daemon: Any, chromium: Any
) -> None:
    room = await _room(team)
    context = await chromium.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, team.api.base, "agent2@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/chat/{room}/")
    await page.get_by_label("Message").fill("posted by the form, @agent1")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_url(f"**/app/chat/{room}/")
    line = page.locator("ol.chat-log li", has_text="posted by the form")
    assert await line.is_visible()
    assert await line.locator("time").inner_text() == "just now"  # never "just now ago"
    status, listed = await team.call("agent1", "GET", f"/api/chat/messages/?room={room}")
    assert status == 200 and listed["results"][0]["body"] == "posted by the form, @agent1"
    status, bell = await team.call("agent1", "GET", "/api/notifications/?unread=true")
    assert status == 200 and [n["kind"] for n in bell["results"]] == ["mentioned"]


async def test_strangers_and_customers_are_kept_out(team: Team, daemon: Any, chromium: Any) -> None:
    body = {"name": "private", "type": "group", "participant_ids": [team.id("agent1")]}
    status, room = await team.call("agent1", "POST", "/api/chat/rooms/", json=body)
    assert status == 201
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent2@localhost", PASSWORD)
    answer = await page.goto(f"{team.api.base}/app/chat/{room['id']}/")
    assert answer is not None and answer.status == 404
    assert not await page.get_by_text("private").count()
    # Posting there is refused too, and a post without the CSRF token before anything else.
    url = f"{team.api.base}/app/chat/{room['id']}/"
    await page.goto(f"{team.api.base}/app/chat/")
    assert await page.get_by_text("You are in no room yet.").is_visible()
    csrf = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    posted = await page.request.post(url, form={"body": "hi", "csrf_token": csrf})
    assert posted.status == 404
    forged = await page.request.post(url, form={"body": "hi"})
    assert forged.status == 403
    status, listed = await team.call("agent1", "GET", f"/api/chat/messages/?room={room['id']}")
    assert status == 200 and listed["count"] == 0

    customer = await new_page(chromium)
    await sign_in(customer, team.api.base, "carol@example.com", PASSWORD)
    for path in ("/app/chat/", "/app/notifications"):
        answer = await customer.goto(f"{team.api.base}{path}")
        assert answer is not None and answer.status == 403


async def test_the_bell_rings_live(team: Team, daemon: Any, chromium: Any) -> None:
    ticket = await team.open_ticket("carol", "Invoice copy")
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    bell = page.get_by_role("link", name="Notifications (0)")
    assert await bell.is_visible()
    await page.locator("#bell[data-live=connected]").wait_for(state="attached")
    await _same_page(page)

    mine = {"assigned_agent": team.id("agent1")}
    status, _ = await team.call("admin", "POST", f"/api/tickets/{ticket}/assign/", json=mine)
    assert status == 200
    rung = page.get_by_role("link", name="Notifications (1)")
    await rung.wait_for()
    assert await page.evaluate("window.__same_page") is True  # no reload happened
    await rung.click()
    await page.wait_for_url("**/app/notifications")
    lines = page.locator("li.notification")
    assert await lines.count() == 1
    assert f"#{ticket} Invoice copy was assigned to you" in await lines.first.inner_text()
    assert await lines.first.get_by_text("unread").is_visible()
    assert await serious_violations(page) == []
    await screenshot(page, "notifications")

    await page.get_by_role("button", name="Mark all read").click()
    await page.get_by_role("link", name="Notifications (0)").wait_for()
    assert not await lines.first.get_by_text("unread").count()
    status, unread = await team.call("agent1", "GET", "/api/notifications/?unread=true")
    assert status == 200 and unread["count"] == 0


async def _rooms_of(team: Team, who: str) -> list[dict[str, Any]]:
    status, listed = await team.call(who, "GET", "/api/chat/rooms/")
    assert status == 200, listed
    return list(listed["results"] if isinstance(listed, dict) else listed)


async def test_new_room_and_direct_message_from_the_page(
    team: Team, daemon: Any, chromium: Any
) -> None:
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/chat/")
    await page.get_by_text("New room", exact=True).click()
    await page.get_by_label("Room name").fill("night shift")
    await page.get_by_role("group", name="Members").get_by_label("Agent2").check()
    await page.get_by_role("button", name="Create room").click()
    await page.wait_for_url("**/app/chat/*/")
    assert await page.get_by_role("heading", name="night shift").is_visible()
    room = int(page.url.rstrip("/").rsplit("/", 1)[1])
    # agent2 is in it (the API says so), and writes there in their own browser.
    seen = {r["id"]: r for r in await _rooms_of(team, "agent2")}
    assert seen[room]["name"] == "night shift" and seen[room]["type"] == "group"
    members = {p["user"]["id"] for p in seen[room]["participants"]}
    assert members == {team.id("agent1"), team.id("agent2")}
    assert await serious_violations(page) == []

    await page.get_by_text("Direct message", exact=True).click()
    await page.get_by_label("Colleague").select_option(label="Agent2")
    await page.get_by_role("button", name="Open conversation").click()
    await page.wait_for_url("**/app/chat/*/")
    assert await page.get_by_role("heading", name="Agent2").is_visible()
    direct = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert direct != room
    # Asking again finds the same pair's room rather than making another.
    await page.get_by_text("Direct message", exact=True).click()
    await page.get_by_label("Colleague").select_option(label="Agent2")
    await page.get_by_role("button", name="Open conversation").click()
    await page.wait_for_url(f"**/app/chat/{direct}/")
    kinds = sorted(r["type"] for r in await _rooms_of(team, "agent2"))
    assert kinds == ["direct", "group"]


async def test_new_room_works_without_javascript_and_needs_the_csrf_token(
    team: Team, daemon: Any, chromium: Any
) -> None:
    context = await chromium.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, team.api.base, "agent2@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/chat/")
    await page.get_by_text("New room", exact=True).click()
    await page.get_by_label("Room name").fill("billing")
    await page.get_by_role("group", name="Members").get_by_label("Agent1").check()
    await page.get_by_role("button", name="Create room").click()
    await page.wait_for_url("**/app/chat/*/")
    assert await page.get_by_role("heading", name="billing").is_visible()
    assert [r["name"] for r in await _rooms_of(team, "agent1")] == ["billing"]

    url = f"{team.api.base}/app/chat/rooms"
    forged = await page.request.post(url, form={"name": "forged"})
    assert forged.status == 403
    csrf = await page.locator('input[name="csrf_token"]').first.get_attribute("value")
    nameless = await page.request.post(url, form={"name": " ", "csrf_token": csrf})
    assert nameless.status == 400 and "Give the room a name." in await nameless.text()
    customer = {"name": "x", "member": str(team.id("carol")), "csrf_token": csrf}
    refused = await page.request.post(url, form=customer)
    assert refused.status == 400 and "not active agents or admins" in await refused.text()
    assert [r["name"] for r in await _rooms_of(team, "agent2")] == ["billing"]
