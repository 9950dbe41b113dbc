"""The team chat over REST and WebSocket: rooms, participants, messages, files, edits,
deletes, reactions, typing, unread counts, search, ticket previews and mentions."""

from __future__ import annotations

import aiohttp
import pytest

from tests.people import Team
from tests.sockets import Live, closed_with, next_event, until


async def _room(
    team: Team, who: str, *members: str, name: str = "ops", kind: str = "group"
) -> dict:
    status, room = await team.call(
        who,
        "POST",
        "/api/chat/rooms/",
        json={"name": name, "type": kind, "participant_ids": [team.id(m) for m in members]},
    )
    assert status in (200, 201), room
    return dict(room)


async def _say(team: Team, who: str, room: int, body: str) -> dict:
    status, message = await team.call(
        who, "POST", "/api/chat/messages/", json={"room": room, "body": body}
    )
    assert status == 201, message
    return dict(message)


async def test_direct_room_is_found_again_and_customers_stay_out(team: Team):
    status, first = await team.call(
        "agent1",
        "POST",
        "/api/chat/rooms/",
        json={"type": "direct", "participant_ids": [team.id("agent2")]},
    )
    assert status == 201 and first["participant_ids"] == sorted(
        [team.id("agent1"), team.id("agent2")]
    )
    status, again = await team.call(
        "agent2",
        "POST",
        "/api/chat/rooms/",
        json={"type": "direct", "participant_ids": [team.id("agent1")]},
    )
    assert status == 200 and again["id"] == first["id"]
    status, body = await team.call(
        "agent1",
        "POST",
        "/api/chat/rooms/",
        json={"type": "direct", "participant_ids": [team.id("carol")]},
    )
    assert status == 400 and "participant_ids" in body["details"]["fields"]
    status, body = await team.call(
        "agent1", "POST", "/api/chat/rooms/", json={"type": "group", "participant_ids": []}
    )
    assert status == 400 and "name" in body["details"]["fields"]
    for method, path in (
        ("GET", "/api/chat/rooms/"),
        ("GET", "/api/chat/messages/"),
        ("GET", f"/api/chat/rooms/{first['id']}/"),
    ):
        assert (await team.call("carol", method, path))[0] == 403


async def test_only_participants_read_or_write(team: Team):
    room = await _room(team, "agent1", "agent2", name="pair")
    await _say(team, "agent1", room["id"], "hello")
    for method, path, body in (
        ("GET", f"/api/chat/rooms/{room['id']}/", None),
        ("GET", f"/api/chat/messages/?room={room['id']}", None),
        ("POST", "/api/chat/messages/", {"room": room["id"], "body": "let me in"}),
        ("POST", f"/api/chat/rooms/{room['id']}/mark_read/", None),
        ("GET", "/api/chat/rooms/999999/", None),
    ):
        status, answer = await team.call("admin", method, path, json=body)
        assert status == 404 and answer["error"] == "not_found", (method, path)
    status, listed = await team.call("admin", "GET", "/api/chat/messages/?search=hello")
    assert listed["results"] == []  # search covers the caller's rooms only


async def test_messages_edits_deletes_reactions_unread_and_search(team: Team):
    room = await _room(team, "agent1", "agent2", "admin")
    r = room["id"]
    first = await _say(team, "agent1", r, "the printer is fixed")
    await _say(team, "agent1", r, "and the fax")
    _, rooms = await team.call("agent2", "GET", "/api/chat/rooms/")
    assert [x["unread_count"] for x in rooms["results"]] == [2]
    await team.call("agent2", "POST", f"/api/chat/rooms/{r}/mark_read/")
    _, rooms = await team.call("agent2", "GET", "/api/chat/rooms/")
    assert rooms["results"][0]["unread_count"] == 0
    # Edit: the author only.
    status, _ = await team.call(
        "agent2", "PATCH", f"/api/chat/messages/{first['id']}/", json={"body": "hijack"}
    )
    assert status == 403
    status, edited = await team.call(
        "agent1",
        "PATCH",
        f"/api/chat/messages/{first['id']}/",
        json={"body": "the printer is really fixed"},
    )
    assert status == 200 and edited["is_edited"] and edited["edited_at"]
    # Reactions: one per user, emoji and message.
    for _ in range(2):
        status, reacted = await team.call(
            "agent2",
            "POST",
            f"/api/chat/messages/{first['id']}/add_reaction/",
            json={"emoji": "👍"},
        )
    [reaction] = reacted["reactions"]
    assert status == 200 and (reaction["emoji"], reaction["user_id"]) == ("👍", team.id("agent2"))
    agent2 = {"id": team.id("agent2"), "name": "Agent2", "email": "agent2@localhost"}
    assert reaction["user"] == agent2
    status, reacted = await team.call(
        "agent2", "POST", f"/api/chat/messages/{first['id']}/remove_reaction/", json={"emoji": "👍"}
    )
    assert reacted["reactions"] == []
    # Search within the caller's rooms.
    _, found = await team.call("agent2", "GET", "/api/chat/messages/?search=REALLY")
    assert [m["id"] for m in found["results"]] == [first["id"]]
    # Delete: the author or an admin, not another participant.
    second = (await team.call("agent1", "GET", f"/api/chat/messages/?room={r}"))[1]["results"][0]
    assert (await team.call("agent2", "DELETE", f"/api/chat/messages/{second['id']}/"))[0] == 403
    assert (await team.call("admin", "DELETE", f"/api/chat/messages/{second['id']}/"))[0] == 204
    assert (await team.call("agent1", "DELETE", f"/api/chat/messages/{first['id']}/"))[0] == 204
    _, listed = await team.call("agent1", "GET", f"/api/chat/messages/?room={r}")
    assert listed["count"] == 0


async def test_files_in_chat(team: Team):
    room = await _room(team, "agent1", "agent2")
    form = aiohttp.FormData()
    form.add_field("room", str(room["id"]))
    form.add_field("files", b"\x89PNG\r\n\x1a\nfake", filename="shot.png", content_type="image/png")
    status, message = await team.call("agent1", "POST", "/api/chat/messages/", data=form)
    assert status == 201 and message["kind"] == "image" and message["file"]["name"] == "shot.png"
    url = message["file"]["url"]
    status, data = await team.call("agent2", "GET", url)
    assert status == 200 and data == b"\x89PNG\r\n\x1a\nfake"
    assert (await team.call("admin", "GET", url))[0] == 404
    form = aiohttp.FormData()
    form.add_field("room", str(room["id"]))
    form.add_field(
        "files", b"<svg onload=alert(1)>", filename="x.svg", content_type="image/svg+xml"
    )
    status, _ = await team.call("agent1", "POST", "/api/chat/messages/", data=form)
    assert status == 415


async def test_ticket_preview_only_for_those_who_may_see_it(team: Team):
    mine = await team.open_ticket("carol", "Printer on fire")
    await team.call(
        "admin", "POST", f"/api/tickets/{mine}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    room = await _room(team, "agent1", "agent2")
    message = await _say(team, "agent1", room["id"], f"see #{mine} and #999999")
    assert [t["id"] for t in message["tickets"]] == [mine]
    assert message["tickets"][0]["subject"] == "Printer on fire"
    assert "ticket_refs" not in message
    _, listed = await team.call("agent2", "GET", f"/api/chat/messages/?room={room['id']}")
    assert listed["results"][0]["tickets"] == []  # agent2 may not open agent1's ticket


async def test_chat_over_websocket(team: Team, live: Live):
    room = await _room(team, "agent1", "agent2")
    r = room["id"]
    a1 = await live.connect("agent1", f"/ws/chat/{r}/")
    a2 = await live.connect("agent2", f"/ws/chat/{r}/")
    await a1.send_json({"type": "message_send", "body": "hi from the socket"})
    new = [await next_event(ws) for ws in (a1, a2)]
    assert {e["type"] for e in new} == {"message_new"}
    message_id = new[0]["data"]["message"]["id"]
    await a1.send_json({"type": "message_edit", "message_id": message_id, "body": "edited"})
    assert (await until(a2, "message_edited"))["data"]["message"]["body"] == "edited"
    await a2.send_json({"type": "reaction_add", "message_id": message_id, "emoji": "🎉"})
    assert (await until(a1, "reaction_added"))["data"]["emoji"] == "🎉"
    await a2.send_json({"type": "reaction_remove", "message_id": message_id, "emoji": "🎉"})
    assert (await until(a1, "reaction_removed"))["data"]["user_id"] == team.id("agent2")
    await a2.send_json({"type": "typing"})
    typing = await until(a1, "user_typing")
    assert typing["data"]["user_id"] == team.id("agent2")
    await a2.send_json({"type": "message_edit", "message_id": message_id, "body": "not mine"})
    answer = await until(a2, "error")
    assert answer["error"] == "forbidden" and answer["request"] == "message_edit"
    await a1.send_json({"type": "message_delete", "message_id": message_id})
    deleted = await until(a2, "message_deleted")
    assert deleted["data"]["message_id"] == message_id
    for ws in (a1, a2):
        await ws.close()


async def test_joining_leaving_and_sockets_of_outsiders(team: Team, live: Live):
    room = await _room(team, "agent1", "agent2")
    r = room["id"]
    outsider = await live.connect("admin", f"/ws/chat/{r}/", ready=False)
    assert await closed_with(outsider) == 4404
    a1 = await live.connect("agent1", f"/ws/chat/{r}/")
    a2 = await live.connect("agent2", f"/ws/chat/{r}/")
    status, _ = await team.call(
        "agent2",
        "POST",
        f"/api/chat/rooms/{r}/add_participant/",
        json={"user_id": team.id("admin")},
    )
    assert status == 403  # only the creator or an admin
    status, _ = await team.call(
        "agent1",
        "POST",
        f"/api/chat/rooms/{r}/add_participant/",
        json={"user_id": team.id("admin")},
    )
    assert status == 200
    joined = await next_event(a2)
    assert joined["type"] == "user_joined" and joined["data"]["user_id"] == team.id("admin")
    status, _ = await team.call(
        "agent1",
        "POST",
        f"/api/chat/rooms/{r}/remove_participant/",
        json={"user_id": team.id("agent2")},
    )
    assert status == 200
    left = await next_event(a2)
    assert left["type"] == "user_left" and left["data"]["user_id"] == team.id("agent2")
    assert await closed_with(a2) == 4403
    assert (await until(a1, "user_joined"))["data"]["user_id"] == team.id("admin")
    assert (await until(a1, "user_left"))["data"]["user_id"] == team.id("agent2")
    # agent2 is out: REST says the room does not exist for them.
    assert (await team.call("agent2", "GET", f"/api/chat/rooms/{r}/"))[0] == 404
    await a1.close()


async def test_mention_notifies_the_participant(team: Team, live: Live):
    room = await _room(team, "agent1", "agent2", "admin")
    notes2 = await live.connect("agent2", "/ws/notifications/")
    notes_admin = await live.connect("admin", "/ws/notifications/")
    await _say(team, "agent1", room["id"], "@agent2 can you look at this?")
    event = await next_event(notes2)
    assert event["type"] == "mention" and event["data"]["message"]["body"].startswith("@agent2")
    # Mentioning someone outside the room tells nobody anything: the next mention each
    # hears is a later one in the shared room.
    other = await _room(team, "agent1", name="solo")
    await _say(team, "agent1", other["id"], "@agent2 secret plans")
    await _say(team, "agent1", room["id"], "@agent2 @admin later")
    for ws in (notes2, notes_admin):
        event = await next_event(ws)
        assert (
            event["type"] == "mention"
            and event["data"]["message"]["body"] == "@agent2 @admin later"
        )
    for ws in (notes2, notes_admin):
        await ws.close()


@pytest.mark.parametrize(
    "payload",
    [
        '{"type": "message_send"}',
        '{"type": "nope"}',
        "not json",
        '{"type": "message_edit", "message_id": "x"}',
    ],
)
async def test_bad_socket_requests_get_errors(team: Team, live: Live, payload):
    room = await _room(team, "agent1", "agent2")
    ws = await live.connect("agent1", f"/ws/chat/{room['id']}/")
    await ws.send_str(payload)
    answer = await next_event(ws)
    assert answer["type"] == "error" and answer["error"] == "invalid"
    await ws.send_str('{"type":"ping"}')
    assert await next_event(ws) == {"type": "pong"}  # still serving
    await ws.close()


async def test_an_image_is_one_by_its_bytes(team: Team):
    """`type: image` and image/png do not make a file an image: its first bytes do (PNG,
    JPEG, GIF, WebP); anything else is kept as a plain file."""
    room = await _room(team, "agent1", "agent2")
    cases = (
        (b"just some text, not a PNG", "file", "application/octet-stream"),
        (b"GIF89a\x01\x00\x01\x00", "image", "image/gif"),  # an image, typed by its bytes
    )
    for data, kind, content_type in cases:
        form = aiohttp.FormData()
        form.add_field("room", str(room["id"]))
        form.add_field("type", "image")
        form.add_field("files", data, filename="shot.png", content_type="image/png")
        status, message = await team.call("agent1", "POST", "/api/chat/messages/", data=form)
        assert status == 201, message
        assert (message["kind"], message["file"]["content_type"]) == (kind, content_type)
        status, got = await team.call("agent2", "GET", message["file"]["url"])
        assert status == 200 and got == data
