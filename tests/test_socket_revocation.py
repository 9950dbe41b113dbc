"""A logged-out or deactivated person's open WebSockets stop at once, not at their next
re-check a minute later, and cannot act in between: every write re-checks the account.
Across replicas too: the revocation travels on the event bus (Redis)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import update

from daemon.lifecycle import Running, started
from desk.config import Settings
from desk.models import ChatMessage, User
from tests.people import PASSWORD, Team
from tests.sockets import Live, closed_with, next_event
from tests.support import free_port, rows


async def _login(team: Team, who: str) -> dict[str, Any]:
    status, pair = await team.call(
        None,
        "POST",
        "/api/auth/token/",
        json={"email": team.users[who].email, "password": PASSWORD},
    )
    assert status == 200
    return dict(pair)


async def _room(team: Team) -> int:
    status, room = await team.call(
        "agent1",
        "POST",
        "/api/chat/rooms/",
        json={"name": "ops", "type": "group", "participant_ids": [team.id("agent2")]},
    )
    assert status == 201, room
    return int(room["id"])


async def test_logout_closes_that_sessions_sockets_at_once(team: Team, live: Live):
    ticket = await team.open_ticket("carol", "Still there?")
    pair = await _login(team, "agent1")
    team.tokens["agent1-2"] = pair["access"]
    other = await live.connect("agent1", "/ws/notifications/")  # another login, stays open
    ws = await live.connect("agent1-2", f"/ws/tickets/{ticket}/")
    status, _ = await team.call(
        None, "POST", "/api/auth/logout/", json={"refresh": pair["refresh"]}
    )
    assert status == 200
    assert await closed_with(ws) == 4401
    await other.send_str('{"type":"ping"}')
    assert await next_event(other) == {"type": "pong"}
    await other.close()


async def test_deactivation_closes_every_socket_of_the_account(team: Team, live: Live):
    room = await _room(team)
    chat = await live.connect("agent2", f"/ws/chat/{room}/")
    personal = await live.connect("agent2", "/ws/notifications/")
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('agent2')}/", json={"is_active": False}
    )
    assert status == 200
    assert await closed_with(chat) == 4401
    assert await closed_with(personal) == 4401


async def test_a_write_over_a_socket_rechecks_the_account(team: Team, live: Live, daemon):
    """Deactivated behind the hub's back (no event reached this process: another replica's
    Redis hiccup): the next chat message sent over the open socket is refused."""
    room = await _room(team)
    ws = await live.connect("agent2", f"/ws/chat/{room}/")
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(User).where(User.id == team.id("agent2")).values(is_active=False)
        )
    await ws.send_json({"type": "message_send", "body": "after my deactivation"})
    assert await closed_with(ws) == 4401
    assert await rows(daemon, ChatMessage) == []


@pytest.fixture
async def replica(settings: Settings, daemon: Running) -> Any:
    """A second `postdesk run` on the same database and Redis (PostgreSQL only)."""
    if not settings.redis_url:
        pytest.skip("replicas share events through Redis: PostgreSQL + Redis backend only")
    second = dataclasses.replace(settings, http_port=free_port(), smtp_port=free_port())
    async with started(second) as running:
        yield running


async def test_a_logout_on_one_replica_closes_the_socket_on_another(
    team: Team, live: Live, replica: Running
):
    pair = await _login(team, "carol")
    team.tokens["carol-2"] = pair["access"]
    base = f"ws://127.0.0.1:{replica.desk.settings.http_port}"
    ws = await live.connect("carol-2", "/ws/notifications/", base=base)
    status, _ = await team.call(
        None, "POST", "/api/auth/logout/", json={"refresh": pair["refresh"]}
    )
    assert status == 200
    assert await closed_with(ws) == 4401
