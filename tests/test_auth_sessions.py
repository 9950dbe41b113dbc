"""Refresh tokens rotate on every use; reuse revokes the whole session; logout ends it at
once, access tokens included."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from desk.models import AuthSession, User
from tests.support import rows

PASSWORD = "correct horse 1"


@pytest.fixture
async def login(api, make_user):
    await make_user("agent@localhost", "agent")

    async def _login() -> dict[str, str]:
        status, body = await api.call(
            "POST", "/api/auth/token/", json={"email": "agent@localhost", "password": PASSWORD}
        )
        assert status == 200
        return body

    return _login


async def _refresh(api, token):
    return await api.call("POST", "/api/auth/token/refresh/", json={"refresh": token})


async def test_refresh_rotates(api, login):
    first = await login()
    status, second = await _refresh(api, first["refresh"])
    assert status == 200 and second["refresh"] != first["refresh"]
    assert second["access"] != first["access"]
    assert (await api.call("GET", "/api/tickets/", second["access"]))[0] == 200
    status, _ = await _refresh(api, second["refresh"])
    assert status == 200


async def test_reuse_revokes_the_whole_session(api, daemon, login):
    first = await login()
    status, second = await _refresh(api, first["refresh"])
    assert status == 200
    status, body = await _refresh(api, first["refresh"])  # a copied, already used token
    assert status == 401 and "already used" in body["message"]
    # the legitimate holder's newer tokens are dead too
    assert (await _refresh(api, second["refresh"]))[0] == 401
    assert (await api.call("GET", "/api/tickets/", second["access"]))[0] == 401
    [session] = await rows(daemon, AuthSession)
    assert session.revoked_reason == "refresh token reuse"
    # another login is unaffected
    other = await login()
    assert (await api.call("GET", "/api/tickets/", other["access"]))[0] == 200


async def test_logout_ends_session_at_once(api, login):
    tokens = await login()
    status, _ = await api.call("POST", "/api/auth/logout/", json={"refresh": tokens["refresh"]})
    assert status == 200
    assert (await api.call("GET", "/api/tickets/", tokens["access"]))[0] == 401
    assert (await _refresh(api, tokens["refresh"]))[0] == 401


async def test_refresh_refuses_wrong_input(api, daemon, login):
    tokens = await login()
    status, body = await _refresh(api, tokens["access"])  # an access token is not a refresh
    assert status == 401 and body["error"] == "not_authenticated"
    assert (await _refresh(api, "garbage"))[0] == 401
    status, body = await api.call("POST", "/api/auth/token/refresh/", json={})
    assert status == 400 and "refresh" in body["details"]["fields"]
    async with daemon.desk.db.writer() as session:
        await session.execute(update(User).values(is_active=False))
    assert (await _refresh(api, tokens["refresh"]))[0] == 401


async def _token(api, email, password):
    return await api.call("POST", "/api/auth/token/", json={"email": email, "password": password})


async def test_failed_logins_limited_per_account(api, make_user, login):
    await make_user("other@localhost", "agent")
    for _ in range(5):
        assert (await _token(api, "agent@localhost", "wrong"))[0] == 401
    status, body = await _token(api, "agent@localhost", PASSWORD)  # even the right one
    assert status == 429 and body["error"] == "rate_limited"
    assert 0 < body["details"]["retry_after"] <= 15 * 60
    async with api.http.post(
        f"{api.base}/api/auth/token/", json={"email": "agent@localhost", "password": PASSWORD}
    ) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    assert (await _token(api, "other@localhost", PASSWORD))[0] == 200


async def test_success_resets_the_account_count(api, login):
    for _ in range(2):
        for _ in range(4):
            assert (await _token(api, "agent@localhost", "wrong"))[0] == 401
        assert (await _token(api, "agent@localhost", PASSWORD))[0] == 200


async def test_failed_logins_limited_per_client_address(api, login):
    for i in range(20):
        assert (await _token(api, f"nobody{i}@localhost", "guess"))[0] == 401
    assert (await _token(api, "agent@localhost", PASSWORD))[0] == 429


async def test_me(api, login):
    tokens = await login()
    status, body = await api.call("GET", "/api/me/", tokens["access"])
    assert status == 200 and body["email"] == "agent@localhost" and body["role"] == "agent"
    assert (await api.call("GET", "/api/me/"))[0] == 401


async def test_login_limits_survive_redis_outage():
    """With Redis unreachable the counter falls back to this process's memory."""
    from desk.auth.ratelimit import LoginGuard, RedisCounter, TooManyAttempts, limiter_client

    client = limiter_client("redis://127.0.0.1:1/0")  # nothing listens there
    guard = LoginGuard(RedisCounter(client, "postdesk:test:"))
    for _ in range(5):
        await guard.check("a@localhost", "10.0.0.1")
        await guard.failed("a@localhost", "10.0.0.1")
    with pytest.raises(TooManyAttempts):
        await guard.check("a@localhost", "10.0.0.1")
    await client.aclose()


async def test_availability(api, make_user, login):
    agent = (await login())["access"]
    status, body = await api.call("GET", "/api/me/availability/", agent)
    assert status == 200 and body == {"is_available": False, "capacity": 10}
    status, body = await api.call(
        "POST", "/api/me/availability/", agent, json={"is_available": True, "capacity": 3}
    )
    assert status == 200 and body == {"is_available": True, "capacity": 3}
    assert (await api.call("GET", "/api/me/availability/", agent))[1]["capacity"] == 3
    status, body = await api.call("POST", "/api/me/availability/", agent, json={"capacity": -1})
    assert status == 400 and "capacity" in body["details"]["fields"]
    await make_user("cust@example.com", "customer")
    customer = (await _token(api, "cust@example.com", PASSWORD))[1]["access"]
    assert (await api.call("GET", "/api/me/availability/", customer))[0] == 403
    assert (await api.call("POST", "/api/me/availability/", customer, json={"is_available": True}))[
        0
    ] == 403
    assert (await api.call("GET", "/api/me/availability/"))[0] == 401
