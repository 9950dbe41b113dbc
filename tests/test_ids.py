"""Ids are never given twice: a client holding the id of a deleted row must never find
another row under it, on SQLite (which would otherwise give the newest deleted id again)
as on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.people import Team
from tests.sockets import closed_with


async def _say(team: Team, room: int, body: str) -> int:
    status, message = await team.call(
        "agent1", "POST", "/api/chat/messages/", json={"room": room, "body": body}
    )
    assert status == 201, message
    return int(message["id"])


async def test_a_deleted_chat_message_id_is_never_given_again(team: Team):
    status, room = await team.call(
        "agent1",
        "POST",
        "/api/chat/rooms/",
        json={"name": "ops", "type": "group", "participant_ids": [team.id("agent2")]},
    )
    assert status == 201, room
    first = await _say(team, room["id"], "first")
    newest = await _say(team, room["id"], "second")
    status, _ = await team.call("agent1", "DELETE", f"/api/chat/messages/{newest}/")
    assert status == 204
    again = await _say(team, room["id"], "third")
    assert again not in (first, newest) and again > newest
    status, listed = await team.call("agent1", "GET", f"/api/chat/messages/?room={room['id']}")
    assert status == 200
    assert [m["id"] for m in listed["results"]] == [again, first]  # newest first


async def test_a_deleted_room_id_is_never_given_again(team: Team):
    async def make(name: str) -> int:
        status, room = await team.call(
            "agent1",
            "POST",
            "/api/chat/rooms/",
            json={"name": name, "type": "group", "participant_ids": [team.id("agent2")]},
        )
        assert status == 201, room
        return int(room["id"])

    gone = await make("short-lived")
    assert (await team.call("agent1", "DELETE", f"/api/chat/rooms/{gone}/"))[0] == 204
    assert await make("next") > gone
    assert (await team.call("agent1", "GET", f"/api/chat/rooms/{gone}/"))[0] == 404


async def test_ids_are_written_in_ascii_digits_only(team: Team, live: Any):
    """int() reads fullwidth or Arabic-Indic digits as numbers: ids in paths, query
    strings and socket paths take the digits 0-9 only, as the one id rule says."""
    for path in ("/api/queues/\uff11/", "/api/tickets/\u0661/", "/api/queues/\u00b9/"):
        code, body = await team.call("admin", "GET", path)
        assert code == 400 and list(body["details"]["fields"]) == ["id"], (path, body)
    code, body = await team.call("admin", "DELETE", "/api/queues/1/members/\uff12/")
    assert code == 400 and list(body["details"]["fields"]) == ["user"], body
    for query in ("\uff11", "+1", "1_0", "1.0"):
        code, body = await team.call("admin", "GET", f"/api/tickets/columns/?project={query}")
        assert code == 400, (query, body)
    assert (await team.call("admin", "GET", "/api/tickets/columns/?project=1"))[0] == 200
    for path in ("/ws/queues/\uff11/board/", "/ws/tickets/\uff11/"):
        ws = await live.connect("admin", path, ready=False)
        assert await closed_with(ws) == 4404, path


async def test_ids_beyond_any_row_are_no_such_thing(team: Team, live: Any):
    """An id no id column can hold (PostgreSQL's integer ends at 2**31 - 1) is answered as
    a missing row or a 400 in paths and sockets, never sent to the database."""
    huge = "9" * 30
    code, body = await team.call("admin", "GET", f"/api/tickets/{huge}/")
    assert code == 400 and list(body["details"]["fields"]) == ["id"], body
    for path in (f"/ws/queues/{huge}/board/", f"/ws/tickets/{huge}/", "/ws/tickets/2147483648/"):
        ws = await live.connect("admin", path, ready=False)
        assert await closed_with(ws) == 4404, path
