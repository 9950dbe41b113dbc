"""Conformance with S2 (`../shared/seeds/002_…`, a team chat with a React front end on its
own origin): the REST calls and WebSocket frames its documentation gives, as written
(`content`, `type`, `message_type`, an `attachment` part, a numeric `project`), and the
fields its TypeScript types read (`ChatRoom`, `ChatMessage`, the frames' top-level keys).
Row numbers are the audit's (docs/seed-conformance.md)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.browser import CORS_ENV, Browser
from tests.people import Team
from tests.sockets import until

CHAT_MESSAGE = {  # S2's `interface ChatMessage`
    "id",
    "room",
    "user",
    "content",
    "type",
    "attachment_url",
    "attachment_name",
    "attachment_size",
    "reactions",
    "created_at",
    "updated_at",
    "is_edited",
    "edited_at",
}
CHAT_ROOM = {  # S2's `interface ChatRoom`
    "id",
    "name",
    "display_name",
    "type",
    "project",
    "created_by",
    "participants",
    "last_message",
    "unread_count",
    "created_at",
    "updated_at",
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, **CORS_ENV}


def _as(team: Team, who: str) -> Browser:
    return Browser(team.api, team.tokens[who])


def _user(team: Team, who: str) -> dict[str, Any]:
    user = team.users[who]
    return {"id": user.id, "name": user.name, "email": user.email}


async def _group(team: Team) -> dict[str, Any]:
    """S2-3: the create body of the seed's docs, a numeric project included."""
    ids = [team.id(w) for w in ("agent1", "agent2", "admin")]
    status, room = await _as(team, "agent1").call(
        "POST",
        "/api/chat/rooms/",
        json={"name": "New Chat", "type": "group", "project": 1, "participant_ids": ids},
    )
    assert status == 201, room
    return dict(room)


async def test_rooms_in_s2s_shape(team: Team):
    """S2-1..S2-8, S2-18..S2-28."""
    agent1 = _as(team, "agent1")
    room = await _group(team)
    assert CHAT_ROOM <= set(room)
    assert (room["project"], room["display_name"], room["type"]) == (1, "New Chat", "group")
    assert room["last_message"] is None and room["updated_at"] == room["created_at"]
    assert [p["user"]["id"] for p in room["participants"]] == sorted(
        team.id(w) for w in ("agent1", "agent2", "admin")
    )
    status, listed = await agent1.call("GET", "/api/chat/rooms/?project=1")
    assert status == 200 and [r["id"] for r in listed["results"]] == [room["id"]]
    assert listed["count"] == 1
    assert (await agent1.call("GET", "/api/chat/rooms/?project=2"))[1]["count"] == 0
    status, direct = await agent1.call(
        "POST", "/api/chat/rooms/", json={"type": "direct", "participant_ids": [team.id("agent2")]}
    )
    assert status == 201 and direct["display_name"] == team.users["agent2"].name
    r = room["id"]
    status, added = await agent1.call(
        "POST", f"/api/chat/rooms/{r}/remove_participant/", json={"user_id": team.id("admin")}
    )
    assert status == 200
    status, added = await agent1.call(
        "POST", f"/api/chat/rooms/{r}/add_participant/", json={"user_id": team.id("admin")}
    )
    assert status == 200 and added["participant"] is True
    await _as(team, "agent2").call("POST", "/api/chat/messages/", json={"room": r, "content": "hi"})
    status, got = await agent1.call("GET", f"/api/chat/rooms/{r}/")
    assert got["unread_count"] == 1 and got["last_message"]["content"] == "hi"
    assert got["last_message"]["user"] == _user(team, "agent2")
    assert got["updated_at"] == got["last_message"]["created_at"]
    status, read = await agent1.call("POST", f"/api/chat/rooms/{r}/mark_read/")
    assert status == 200 and read["unread_count"] == 0
    assert (await agent1.call("DELETE", f"/api/chat/rooms/{r}/"))[0] == 204
    assert (await agent1.call("GET", f"/api/chat/rooms/{r}/"))[0] == 404


async def test_messages_in_s2s_shape(team: Team):
    """S2-9..S2-17, S2-29..S2-41: send (JSON and multipart with `attachment`), edit with
    `content`, react, history oldest first, search, delete."""
    agent1, agent2 = _as(team, "agent1"), _as(team, "agent2")
    r = (await _group(team))["id"]
    status, hello = await agent1.call(
        "POST", "/api/chat/messages/", json={"room": r, "content": "Hello!", "type": "text"}
    )
    assert status == 201, hello
    assert CHAT_MESSAGE <= set(hello)
    assert (hello["room"], hello["content"], hello["type"]) == (r, "Hello!", "text")
    assert hello["user"] == _user(team, "agent1") and hello["reactions"] == []
    assert hello["attachment_url"] is None and hello["is_edited"] is False
    form = aiohttp.FormData()
    form.add_field("room", str(r))
    form.add_field("content", "Check this out")
    form.add_field("type", "image")
    form.add_field(
        "attachment", b"\x89PNG\r\n\x1a\nfake", filename="shot.png", content_type="image/png"
    )
    status, image = await agent1.call("POST", "/api/chat/messages/", data=form)
    assert status == 201, image
    assert (image["type"], image["attachment_name"], image["attachment_size"]) == (
        "image",
        "shot.png",
        12,
    )
    status, data = await agent2.call("GET", image["attachment_url"])
    assert status == 200 and data == b"\x89PNG\r\n\x1a\nfake"
    status, edited = await agent1.call(
        "PATCH", f"/api/chat/messages/{hello['id']}/", json={"content": "Updated message"}
    )
    assert status == 200 and edited["content"] == "Updated message" and edited["is_edited"]
    assert edited["updated_at"] == edited["edited_at"]
    status, reacted = await agent2.call(
        "POST", f"/api/chat/messages/{hello['id']}/add_reaction/", json={"emoji": "👍"}
    )
    [reaction] = reacted["reactions"]
    assert reaction["user"]["id"] == team.id("agent2") and reaction["emoji"] == "👍"
    assert reaction["created_at"]
    status, reacted = await agent2.call(
        "POST", f"/api/chat/messages/{hello['id']}/remove_reaction/", json={"emoji": "👍"}
    )
    assert status == 200 and reacted["reactions"] == []
    status, history = await agent2.call("GET", f"/api/chat/messages/?room={r}&ordering=created_at")
    assert [m["id"] for m in history["results"]] == [hello["id"], image["id"]]
    status, found = await agent2.call("GET", "/api/chat/messages/?search=updated")
    assert [m["content"] for m in found["results"]] == ["Updated message"]
    status, found = await agent2.call("GET", f"/api/chat/messages/?search=updated&room={r}")
    assert [m["id"] for m in found["results"]] == [hello["id"]]
    assert (await agent1.call("DELETE", f"/api/chat/messages/{hello['id']}/"))[0] == 204


async def test_a_type_that_needs_a_file_is_refused_without_one(team: Team):
    r = (await _group(team))["id"]
    status, body = await _as(team, "agent1").call(
        "POST", "/api/chat/messages/", json={"room": r, "content": "x", "type": "image"}
    )
    assert status == 400 and "type" in body["details"]["fields"]


async def test_socket_frames_as_s2_sends_and_reads_them(team: Team):
    """S2-44, S2-46..S2-59: every frame S2 sends, every frame type it handles, read at the
    top level (`event.message`, `event.message_id`, ...)."""
    room = await _group(team)
    r = room["id"]
    a1 = await _as(team, "agent1").socket(f"/ws/chat/{r}/")
    a2 = await _as(team, "agent2").socket(f"/ws/chat/{r}/")
    await a1.send_json({"type": "message_send", "content": "Hello, World!", "message_type": "text"})
    new = await until(a2, "message_new")
    assert new["message"]["content"] == "Hello, World!"
    assert new["message"]["user"] == _user(team, "agent1") and new["message"]["reactions"] == []
    assert new["data"]["message"] == new["message"]  # postdesk's clients read `data`
    message_id = new["message"]["id"]
    await a1.send_json(
        {"type": "message_edit", "message_id": message_id, "content": "Updated content"}
    )
    edited = await until(a2, "message_edited")
    assert edited["message"]["content"] == "Updated content"
    await a2.send_json({"type": "reaction_add", "message_id": message_id, "emoji": "👍"})
    added = await until(a1, "reaction_added")
    assert added["message_id"] == message_id and added["reaction"]["emoji"] == "👍"
    assert added["reaction"]["user"]["id"] == team.id("agent2") and added["reaction"]["created_at"]
    await a2.send_json({"type": "reaction_remove", "message_id": message_id, "emoji": "👍"})
    removed = await until(a1, "reaction_removed")
    assert (removed["message_id"], removed["user_id"], removed["emoji"]) == (
        message_id,
        team.id("agent2"),
        "👍",
    )
    for typing in (True, False):
        await a2.send_json({"type": "typing", "is_typing": typing})
        told = await until(a1, "user_typing")
        assert (told["user_id"], told["is_typing"]) == (team.id("agent2"), typing)
    await a1.send_json({"type": "message_delete", "message_id": message_id})
    deleted = await until(a2, "message_deleted")
    assert deleted["message_id"] == message_id
    agent1 = _as(team, "agent1")
    await agent1.call(
        "POST", f"/api/chat/rooms/{r}/remove_participant/", json={"user_id": team.id("admin")}
    )
    left = await until(a2, "user_left")
    assert left["user"] == _user(team, "admin")
    await agent1.call(
        "POST", f"/api/chat/rooms/{r}/add_participant/", json={"user_id": team.id("admin")}
    )
    joined = await until(a2, "user_joined")
    assert joined["user"] == _user(team, "admin")
    await a1.close()
    await a2.close()
