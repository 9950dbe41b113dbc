"""A logged-out or deactivated person's open WebSockets stop at once, not at their next
re-check a minute later, and cannot act in between: every write re-checks the account.
Across replicas too: the revocation travels on the event bus (Redis). A deactivation or a
new password ends every session of the account for good: its tokens and browser cookie
from before stay refused after a reactivation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import update

from daemon.lifecycle import Running, started
from desk.config import Settings
from desk.models import AuthSession, ChatMessage, User
from tests.people import PASSWORD, Team
from tests.sockets import Live, closed_with, next_event
from tests.support import free_port, rows
from tests.test_pages_signin import _client, _signed_in


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


async def _sessions_from_before(team: Team, live: Live, who: str) -> tuple[Any, ...]:
    """A token pair, a socket on it and a signed-in browser client of `who`, all working."""
    pair = await _login(team, who)
    team.tokens[f"{who}-old"] = pair["access"]
    ws = await live.connect(f"{who}-old", "/ws/notifications/")
    browser = _client()
    await _signed_in(browser, team.api.base, team.users[who].email)
    return pair, ws, browser


async def _all_refused(team: Team, pair: dict[str, Any], browser: Any) -> None:
    assert (await team.api.call("GET", "/api/me/", pair["access"]))[0] == 401
    refreshed = await team.call(
        None, "POST", "/api/auth/token/refresh/", json={"refresh": pair["refresh"]}
    )
    assert refreshed[0] == 401
    async with browser.get(f"{team.api.base}/app/", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_sessions_from_before_a_deactivation_stay_ended_after_reactivation(
    team: Team, live: Live, daemon: Running
):
    pair, ws, browser = await _sessions_from_before(team, live, "agent2")
    async with browser:
        path = f"/api/admin/users/{team.id('agent2')}/"
        assert (await team.call("admin", "PATCH", path, json={"is_active": False}))[0] == 200
        assert await closed_with(ws) == 4401
        assert (await team.call("admin", "PATCH", path, json={"is_active": True}))[0] == 200
        await _all_refused(team, pair, browser)
    ended = await rows(daemon, AuthSession, AuthSession.user_id == team.id("agent2"))
    assert ended and all(s.revoked_at is not None for s in ended)
    assert {s.revoked_reason for s in ended} == {"this account is not active"}
    # Signing in again works.
    assert (await _login(team, "agent2"))["access"]


async def test_a_new_password_ends_every_session_from_before(
    team: Team, live: Live, daemon: Running
):
    pair, ws, browser = await _sessions_from_before(team, live, "agent2")
    async with browser:
        path = f"/api/admin/users/{team.id('agent2')}/"
        code, _ = await team.call("admin", "PATCH", path, json={"password": "a new one 2"})
        assert code == 200
        assert await closed_with(ws) == 4401
        await _all_refused(team, pair, browser)
    ended = await rows(daemon, AuthSession, AuthSession.user_id == team.id("agent2"))
    assert {s.revoked_reason for s in ended} == {"the password was changed"}
    # The admin's own sessions are untouched; the new password signs in.
    assert (await team.call("admin", "GET", "/api/me/"))[0] == 200
    status, _ = await team.call(
        None,
        "POST",
        "/api/auth/token/",
        json={"email": team.users["agent2"].email, "password": "a new one 2"},
    )
    assert status == 200


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
