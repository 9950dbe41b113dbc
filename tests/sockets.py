"""WebSocket clients for tests: connect as a team member, read the next event, see how a
socket was closed."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.people import Team

WS_TIMEOUT = 10


class Live:
    def __init__(self, team: Team) -> None:
        self.team = team
        self.base = team.api.base.replace("http://", "ws://")
        self.replayed: list[dict] = []

    async def connect(
        self,
        who: str | None,
        path: str,
        *,
        query: str = "",
        base: str | None = None,
        ready: bool = True,
        **kw: Any,
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a socket; with `ready`, return once the server has it subscribed (its first
        answer comes after that), so no event of the test can race the subscription."""
        token = self.team.tokens.get(who, "") if who else ""
        params = f"?token={token}" if token and "protocols" not in kw else "?"
        url = f"{base or self.base}{path}{params}{'&' if query else ''}{query}"
        ws = await self.team.api.http.ws_connect(url, **kw)
        if ready:
            await ws.send_str('{"type":"ping"}')
            first = await next_event(ws)
            while first != {"type": "pong"}:  # resumed events come before the answer
                self.replayed.append(first)
                first = await next_event(ws)
        return ws


async def next_event(ws: aiohttp.ClientWebSocketResponse, timeout: float = WS_TIMEOUT) -> dict:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data, message.extra)
    return dict(json.loads(message.data))


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int:
    """The code in the server's close frame (what a browser's CloseEvent reports)."""
    message = await ws.receive(timeout=WS_TIMEOUT)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return int(message.data if message.type == aiohttp.WSMsgType.CLOSE else ws.close_code or 0)


async def until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    """The next event of type `kind`, skipping others."""
    while (event := await next_event(ws))["type"] != kind:
        pass
    return event
