"""A seed's front end as the browser runs it: served from its own origin (a Vite dev server),
so every call with a bearer token or a JSON body is preceded by a CORS preflight, and the
answer is readable only if it names that origin. The conformance suites (test_seed_s1,
test_seed_s2) make each documented call through this client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support import Api

ORIGIN = "http://localhost:5173"  # the seeds' VITE dev server
CORS_ENV = {"POSTDESK_CORS_ORIGINS": ORIGIN}


@dataclass
class Browser:
    api: Api
    token: str | None = None

    def as_(self, token: str | None) -> Browser:
        return Browser(self.api, token)

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """Preflight (the browser's, for a credentialed or JSON call), then the call; both
        must carry our origin back, or the front end would see a network error."""
        url = f"{self.api.base}{path}"
        asked = ["authorization"] if self.token else []
        if "json" in kw:
            asked.append("content-type")
        preflight = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(asked),
        }
        async with self.api.http.options(url, headers=preflight) as r:
            assert r.status == 204, (method, path, r.status)
            assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert method in r.headers["Access-Control-Allow-Methods"]
        headers = {"Origin": ORIGIN}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.api.http.request(method, url, headers=headers, **kw) as r:
            assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN, (method, path)
            assert r.headers.get("Access-Control-Allow-Credentials") == "true"
            if r.status == 204:
                return r.status, None
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.read()

    async def socket(self, path: str) -> aiohttp.ClientWebSocketResponse:
        """`new WebSocket(`${WS_BASE}${path}?token=${jwt}`)`, as both seeds connect; ready
        once the server answered a ping (it is subscribed by then)."""
        base = self.api.base.replace("http://", "ws://")
        ws = await self.api.http.ws_connect(
            f"{base}{path}?token={self.token}", headers={"Origin": ORIGIN}
        )
        await ws.send_str('{"type":"ping"}')
        assert (await ws.receive_json(timeout=10)) == {"type": "pong"}
        return ws
