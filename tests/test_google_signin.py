"""Sign in with Google against a local stand-in for Google's key endpoint (JWKS): tokens
signed with a key we generate, checked for signature, audience, issuer, expiry and a
verified email; accounts matched by email, new addresses become customers, staff are never
created this way."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from desk.auth.google import REFETCH_INTERVAL_SECONDS, GoogleKeys
from desk.errors import NotAuthenticated
from desk.models import User
from tests.people import PASSWORD
from tests.support import Api, free_port, http_server, rows

CLIENT_ID = "1234-test.apps.googleusercontent.com"
KID = "test-key-1"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Jwks:
    """The stand-in for https://www.googleapis.com/oauth2/v3/certs: counts its fetches."""

    def __init__(self) -> None:
        self.port = free_port()
        self.fetches = 0
        self.keys: list[tuple[Any, str]] = [(KEY, KID)]  # what it serves (Google rotates)

    async def serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        served = []
        for key, kid in self.keys:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            served.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        return web.json_response({"keys": served})


@pytest.fixture
async def jwks() -> AsyncIterator[Jwks]:
    stub = Jwks()
    async with http_server(stub.port, "GET", "/oauth2/v3/certs", stub.serve):
        yield stub


@pytest.fixture
def env(env: dict[str, str], jwks: Jwks) -> dict[str, str]:
    return {
        **env,
        "POSTDESK_GOOGLE_CLIENT_ID": CLIENT_ID,
        "POSTDESK_GOOGLE_JWKS_URL": f"http://127.0.0.1:{jwks.port}/oauth2/v3/certs",
    }


def google_token(key: Any = KEY, kid: str = KID, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "sub": "110169484474386276334",
        "email": "Grace@Example.com",
        "email_verified": True,
        "name": "Grace Hopper",
        "iat": now,
        "exp": now + 3600,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def _google(api: Api, token: str) -> tuple[int, Any]:
    return await api.call("POST", "/api/auth/google/", json={"id_token": token})


async def test_a_new_address_becomes_a_customer_and_signs_in_again(api: Api, jwks: Jwks):
    status, first = await _google(api, google_token())
    assert status == 200, first
    assert set(first) >= {"access", "refresh"}
    assert first["user"]["email"] == "grace@example.com" and first["user"]["role"] == "customer"
    status, me = await api.call("GET", "/api/me/", first["access"])
    assert status == 200 and me["name"] == "Grace Hopper" and not me["has_password"]
    status, again = await _google(api, google_token(iss="accounts.google.com"))
    assert status == 200 and again["user"]["id"] == first["user"]["id"]
    status, rotated = await api.call(
        "POST", "/api/auth/token/refresh/", json={"refresh": again["refresh"]}
    )
    assert status == 200 and rotated["access"]
    assert jwks.fetches == 1  # the keys are kept, not fetched for every sign-in


async def test_staff_sign_in_only_into_their_existing_account(api: Api, make_user):
    agent = await make_user("ada@localhost", "agent")
    status, body = await _google(api, google_token(email="ADA@localhost"))
    assert status == 200 and body["user"]["id"] == agent.id and body["user"]["role"] == "agent"
    status, me = await api.call("GET", "/api/me/", body["access"])
    assert me["role"] == "agent"
    # A staff member's password still works; Google did not change the account.
    assert await api.token("ada@localhost", PASSWORD)


async def test_a_deactivated_account_is_refused(api: Api, make_user, daemon):
    user = await make_user("gone@example.com", "customer")
    async with daemon.desk.db.writer() as session:
        row = await session.get(type(user), user.id)
        row.is_active = False
    status, body = await _google(api, google_token(email="gone@example.com"))
    assert status == 401 and body["error"] == "not_authenticated"


@pytest.mark.parametrize(
    ("why", "token"),
    [
        ("another audience", lambda: google_token(aud="someone-else.apps.googleusercontent.com")),
        ("our audience and another", lambda: google_token(aud=[CLIENT_ID, "other.apps.x"])),
        ("another issuer", lambda: google_token(iss="https://accounts.evil.example")),
        ("expired", lambda: google_token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        ("email not verified", lambda: google_token(email_verified=False)),
        ("no email", lambda: google_token(email=None)),
        ("signed by another key", lambda: google_token(key=OTHER_KEY)),
        ("unknown key id", lambda: google_token(kid="not-googles")),
        ("not a JWT", lambda: "x" * 40),
        ("HS256 with the public key", lambda: _hs256()),
    ],
)
async def test_tokens_that_fail_a_check_sign_nobody_in(api: Api, daemon, why: str, token):
    status, body = await _google(api, token())
    assert status == 401, (why, body)
    assert body["error"] == "not_authenticated" and body["message"]
    assert await rows(daemon, User) == []  # nobody was created


async def test_the_desks_own_addresses_never_sign_in(api: Api, daemon):
    """A Google account under the desk's support address (or a queue's) is not the desk."""
    [address] = sorted(daemon.desk.settings.support_addresses)[:1]
    status, body = await _google(api, google_token(email=address))
    assert status == 401 and "desk's own addresses" in body["message"]
    assert await rows(daemon, User) == []


def _hs256() -> str:
    """The classic confusion attack: a token "signed" with the public key as an HMAC secret."""
    now = int(time.time())
    claims = {"iss": "accounts.google.com", "aud": CLIENT_ID, "sub": "1", "iat": now}
    claims |= {"exp": now + 600, "email": "mallory@example.com", "email_verified": True}
    return jwt.encode(claims, "not-the-key-but-long-enough-for-hmac-0123", algorithm="HS256")


async def test_bad_bodies_are_refused_by_name(api: Api):
    status, body = await api.call("POST", "/api/auth/google/", json={"credential": "x" * 40})
    assert status == 400 and "id_token" in body["details"]["fields"]


async def test_rotated_keys_are_fetched_again_at_once_and_at_most_once_a_minute(
    api: Api, jwks: Jwks
):
    """Google rotated its keys: a token naming the new `kid` refetches them at once (not
    after the hour the keys are kept), then signs in; a made-up `kid` right after does not
    make another fetch (at most one a minute), and the new key is kept."""
    assert (await _google(api, google_token()))[0] == 200
    assert jwks.fetches == 1
    jwks.keys = [(OTHER_KEY, "test-key-2")]
    status, body = await _google(api, google_token(key=OTHER_KEY, kid="test-key-2"))
    assert status == 200, body
    assert jwks.fetches == 2
    status, body = await _google(api, google_token(kid="made-up"))
    assert status == 401 and "made-up" in body["message"]
    assert (await _google(api, google_token(key=OTHER_KEY, kid="test-key-2")))[0] == 200
    assert jwks.fetches == 2


async def test_unknown_kids_refetch_once_per_interval(jwks: Jwks, daemon: Any):
    """GoogleKeys on a clock the test moves: a second unknown `kid` within the interval
    fetches nothing; once the interval has passed, the next one fetches again."""
    now = [1000.0]
    keys = GoogleKeys(daemon.desk.settings, clock=lambda: now[0])
    await keys.claims(google_token())
    assert jwks.fetches == 1
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            await keys.claims(google_token(kid="made-up"))
    assert jwks.fetches == 2
    now[0] += REFETCH_INTERVAL_SECONDS
    jwks.keys = [(OTHER_KEY, "test-key-2")]
    claims = await keys.claims(google_token(key=OTHER_KEY, kid="test-key-2"))
    assert claims["email"] == "Grace@Example.com" and jwks.fetches == 3
