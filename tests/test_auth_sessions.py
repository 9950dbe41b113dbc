"""Refresh tokens rotate on every use; reuse revokes the whole session; logout ends it at
once, access tokens included."""

from __future__ import annotations

import dataclasses
import time
from ipaddress import ip_address, ip_network

import aiohttp
import pytest
import time_machine
from sqlalchemy import update

from daemon.lifecycle import started
from desk.auth.ratelimit import ACCOUNT_LIMIT, ADDRESS_LIMIT
from desk.auth.tokens import VerifiedTokens, issue_pair
from desk.errors import NotAuthenticated
from desk.models import AuthSession, User
from desk.people import add_user
from tests.support import Api, free_port, rows
from web.client import nearest_untrusted

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
    # used once before: the web app has checked the token's signature and remembers it
    assert (await api.call("GET", "/api/tickets/", tokens["access"]))[0] == 200
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


async def _token_via(api, email, password, headers):
    """A login with extra headers (as a proxy in front would add); the answer's status."""
    body = {"email": email, "password": password}
    async with api.http.post(f"{api.base}/api/auth/token/", json=body, headers=headers) as r:
        return r.status


async def _spray(api, count, headers=None):
    """`count` failed logins for accounts that do not exist, as a password sprayer makes."""
    for i in range(count):
        assert await _token_via(api, f"nobody{i}@localhost", "guess", headers or {}) == 401


async def test_failed_logins_limited_per_client_address(api, make_user, login):
    """An address with many failures is throttled for accounts never signed in from it;
    an account that has signed in from it keeps signing in with its right password."""
    await login()  # agent@localhost is known from this address
    await make_user("admin@localhost", "admin")
    await _spray(api, ADDRESS_LIMIT.attempts)
    status, body = await _token(api, "admin@localhost", PASSWORD)
    assert status == 429 and body["error"] == "rate_limited"
    assert (await _token(api, "agent@localhost", PASSWORD))[0] == 200
    # ... and the account's own limit still holds for it
    for _ in range(ACCOUNT_LIMIT.attempts):
        assert (await _token(api, "agent@localhost", "wrong"))[0] == 401
    assert (await _token(api, "agent@localhost", PASSWORD))[0] == 429


async def test_forwarded_addresses_ignored_without_trusted_proxies(api, login):
    await _spray(api, ADDRESS_LIMIT.attempts, {"X-Forwarded-For": "203.0.113.7"})
    # the headers are anyone's to send: the socket's peer counts
    headers = {"X-Forwarded-For": "203.0.113.8", "Forwarded": "for=203.0.113.9"}
    assert await _token_via(api, "agent@localhost", PASSWORD, headers) == 429


async def test_trusted_proxies_name_the_client(settings):
    """Behind a trusted proxy (here: loopback) the rightmost untrusted hop is the client:
    one sprayer does not throttle its neighbours behind the same balancer."""
    behind = dataclasses.replace(
        settings,
        http_port=free_port(),
        smtp_port=free_port(),
        trusted_proxies=(ip_network("127.0.0.0/8"), ip_network("10.0.0.0/8")),
    )
    async with started(behind) as running, aiohttp.ClientSession() as http:
        async with running.desk.db.writer() as session:
            await add_user(session, email="admin@localhost", role="admin", password=PASSWORD)
        api = Api(base=f"http://127.0.0.1:{behind.http_port}", http=http)
        # the sprayer forges a left hop; the proxies (10.0.0.5, then loopback) append theirs
        forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.5"}
        await _spray(api, ADDRESS_LIMIT.attempts, forged)

        async def login_via(headers):
            return await _token_via(api, "admin@localhost", PASSWORD, headers)

        assert await login_via({"X-Forwarded-For": "203.0.113.7"}) == 429
        assert await login_via({"Forwarded": 'for="203.0.113.7:4711", for=10.0.0.5'}) == 429
        assert await login_via({"X-Forwarded-For": "203.0.113.8"}) == 200
        assert await login_via({"Forwarded": 'for="[2001:db8::1]:4711"'}) == 200
        assert await login_via({}) == 200  # the proxy's own address is another client


def test_nearest_untrusted_hop():
    trusted = [ip_network("10.0.0.0/8")]
    peer = ip_address("10.0.0.1")
    assert str(nearest_untrusted(peer, ["1.1.1.1", "2.2.2.2", "10.0.0.9"], trusted)) == "2.2.2.2"
    assert str(nearest_untrusted(peer, ["10.0.0.3", "10.0.0.9"], trusted)) == "10.0.0.3"
    assert str(nearest_untrusted(peer, ["unknown", "10.0.0.9"], trusted)) == "10.0.0.9"
    assert str(nearest_untrusted(peer, [], trusted)) == "10.0.0.1"


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


def test_remembered_tokens_expire_and_stay_checked(settings):
    """A token whose signature was checked is not taken again past its `exp`, nor under
    another secret key; a forged one is never taken."""
    tokens = VerifiedTokens()
    access = issue_pair(settings, 7, "s" * 32, "j")["access"]
    assert tokens.claims(settings, access)["sub"] == "7"
    assert tokens.claims(settings, access)["sid"] == "s" * 32
    other_key = dataclasses.replace(settings, secret_key="another-secret-" + "y" * 40)
    with pytest.raises(NotAuthenticated):
        tokens.claims(other_key, access)
    with pytest.raises(NotAuthenticated):
        tokens.claims(settings, access[:-2] + ("AA" if not access.endswith("AA") else "BB"))
    later = time.time() + settings.access_token_minutes * 60 + 5
    with time_machine.travel(later), pytest.raises(NotAuthenticated):
        tokens.claims(settings, access)
