"""CORS for front ends served from their own origin (the seeds' Vite apps): only the
configured origins get `Access-Control-*` headers, on answers and on errors alike; a
preflight is answered before routing; without the setting nothing changes."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED
from tests.people import Team
from tests.support import Api

APP = "http://localhost:5173"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "POSTDESK_CORS_ORIGINS": f"{APP}, https://desk.example.com/"}


async def test_preflight_from_an_allowed_origin(api: Api):
    async with api.http.options(f"{api.base}/api/tickets/", headers=PREFLIGHT) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == APP
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
        assert int(r.headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in r.headers.getall("Vary")
    # A path with an id, and the second configured origin (its trailing slash was dropped).
    headers = {**PREFLIGHT, "Origin": "https://desk.example.com"}
    async with api.http.options(f"{api.base}/api/chat/messages/7/", headers=headers) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://desk.example.com"


async def test_answers_and_errors_carry_the_origin(team: Team):
    api = team.api
    headers = {"Origin": APP, "Authorization": f"Bearer {team.tokens['carol']}"}
    async with api.http.get(f"{api.base}/api/tickets/", headers=headers) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == APP
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Retry-After" in r.headers["Access-Control-Expose-Headers"]
        assert "Origin" in r.headers.getall("Vary")
    # A 401 and a 404: the browser lets the script read why it failed.
    async with api.http.get(f"{api.base}/api/me/", headers={"Origin": APP}) as r:
        assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == APP
        assert (await r.json())["error"] == "not_authenticated"
    async with api.http.get(f"{api.base}/api/tickets/999/", headers=headers) as r:
        assert r.status == 404 and r.headers["Access-Control-Allow-Origin"] == APP


async def test_other_origins_get_no_cors_headers(team: Team):
    api = team.api
    for origin in ("http://evil.example", "http://localhost:5174", "null"):
        headers = {**PREFLIGHT, "Origin": origin}
        async with api.http.options(f"{api.base}/api/tickets/", headers=headers) as r:
            assert r.status == 403
            assert not [h for h in r.headers if h.lower().startswith("access-control-")]
        headers = {"Origin": origin, "Authorization": f"Bearer {team.tokens['carol']}"}
        async with api.http.get(f"{api.base}/api/tickets/", headers=headers) as r:
            assert r.status == 200  # the server answers; the browser withholds it
            assert "Access-Control-Allow-Origin" not in r.headers
            assert "Origin" in r.headers.getall("Vary")  # caches must not mix origins


async def test_a_preflight_asking_for_more_is_refused(api: Api):
    for changes in (
        {"Access-Control-Request-Method": "TRACE"},
        {"Access-Control-Request-Headers": "authorization, x-forwarded-for"},
    ):
        async with api.http.options(
            f"{api.base}/api/tickets/", headers={**PREFLIGHT, **changes}
        ) as r:
            assert r.status == 403, changes
            assert "Access-Control-Allow-Origin" not in r.headers


async def test_a_plain_options_is_routed_as_before(api: Api):
    """Without Access-Control-Request-Method it is no preflight: the route table answers."""
    async with api.http.options(f"{api.base}/api/tickets/", headers={"Origin": APP}) as r:
        assert r.status == 405


@SHARED
async def test_without_the_setting_there_is_no_cors(shared_api: Api):
    api = shared_api
    async with api.http.options(f"{api.base}/api/tickets/", headers=PREFLIGHT) as r:
        assert r.status == 405
        assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    async with api.http.get(f"{api.base}/healthz", headers={"Origin": APP}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


@SHARED
async def test_google_sign_in_without_a_client_id_is_unavailable(shared_api: Api):
    status, body = await shared_api.call(
        "POST", "/api/auth/google/", json={"id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig"}
    )
    assert status == 503 and body["error"] == "google_unavailable"
