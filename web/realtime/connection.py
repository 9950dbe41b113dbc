"""One WebSocket's life, the same for every live socket: authenticate, then read what the
client sends and write what the hub queues until either side ends it, watching the token."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from desk.auth.sessions import session_user
from desk.auth.tokens import decode
from desk.errors import NotAuthenticated
from desk.models import User
from web.keys import DESK
from web.realtime.hub import UNAUTHORIZED, Socket

log = logging.getLogger(__name__)
SocketHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GONE = 499  # the access log's status of a client that went away (nginx's convention)

HEARTBEAT_SECONDS = 20.0
RECHECK_SECONDS = 60.0  # how often an open socket re-checks its user and session
CLOSE_SECONDS = 10.0  # how long a closing socket may take to accept the close frame


def _token(request: web.Request) -> str | None:
    """`?token=` as the seeds' front ends send it, or `Sec-WebSocket-Protocol: bearer, T`
    for clients that keep tokens out of URLs (and so out of access logs)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if "bearer" in offered and offered.index("bearer") + 1 < len(offered):
        return offered[offered.index("bearer") + 1]
    return request.query.get("token")


def socket_route(handler: SocketHandler) -> SocketHandler:
    """Every socket route's handler, wrapped: a client that goes away while the socket is
    prepared or served (a page navigated away from: ConnectionResetError, aiohttp's
    ClientConnectionResetError) is no error: one DEBUG line, and the access log says 499."""

    @functools.wraps(handler)
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionResetError as exc:
            log.debug("socket client went away on %s: %s", request.path, exc)
            return web.Response(status=GONE)

    return route


async def open_socket(request: web.Request) -> tuple[web.WebSocketResponse, User | None, float]:
    """The socket, its user and when its token expires; no user: already closed (4401)."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, protocols=("bearer",))
    await ws.prepare(request)
    desk = request.app[DESK]
    token = _token(request)
    try:
        if not token:
            raise NotAuthenticated("no token")
        user = await session_user(desk.db, desk.settings, token)
        expires = float(decode(desk.settings, token, "access")["exp"])
    except NotAuthenticated as exc:
        await ws.close(code=UNAUTHORIZED, message=exc.message.encode()[:120])
        return ws, None, 0.0
    return ws, user, expires


async def serve(request: web.Request, sub: Socket, expires: float) -> None:
    """Until the client leaves or the hub ends the subscription: read what the client sends,
    write what the hub queues, watch the token. Then close with the reason's code."""
    token = _token(request) or ""
    sub.session_id = str(decode(request.app[DESK].settings, token, "access")["sid"])
    reader = asyncio.create_task(_read(request, sub))
    writer = asyncio.create_task(_write(sub))
    helpers = [
        asyncio.create_task(_watch(request, sub, expires)),
        asyncio.create_task(sub.ended.wait()),
    ]
    try:
        await asyncio.wait([reader, writer, *helpers], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in helpers:
            task.cancel()
        if sub.close_code is not None and not sub.ws.closed:
            await _close(request, sub)
        # Only now: a writer cancelled while it waits for the client to drain its buffers
        # would cancel aiohttp's shared drain future, and the close frame with it.
        for task in (writer, reader):
            task.cancel()
        await asyncio.gather(reader, writer, *helpers, return_exceptions=True)


async def _close(request: web.Request, sub: Socket) -> None:
    """Send the close frame (aiohttp allows it from another task than the reading one). A
    client that reads nothing cannot receive it: after CLOSE_SECONDS it is disconnected."""
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await sub.ws.close(code=sub.close_code or 1000, message=sub.close_reason.encode()[:120])
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()


async def _read(request: web.Request, sub: Socket) -> None:
    async for message in sub.ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            asked = json.loads(message.data)
        except ValueError:
            asked = None
        if not isinstance(asked, dict):
            await sub.ws.send_str('{"type":"error","error":"invalid","message":"send JSON"}')
        elif asked.get("type") == "ping":
            await sub.ws.send_str('{"type":"pong"}')
        elif sub.handle is not None and await _still_allowed(request, sub):
            await sub.handle(sub, asked)


async def _still_allowed(request: web.Request, sub: Socket) -> bool:
    """Every write over a socket re-checks the account and session, as every REST request
    does: one ended a moment ago (on another replica, or while its event is on its way) is
    refused, and the socket closes with 4401."""
    desk = request.app[DESK]
    try:
        sub.user = await session_user(desk.db, desk.settings, _token(request) or "")
    except NotAuthenticated as exc:
        sub.end(UNAUTHORIZED, exc.message)
        return False
    return True


async def _write(sub: Socket) -> None:
    while not sub.ws.closed and sub.close_code is None:
        await sub.ws.send_str(await sub.queue.get())


async def _watch(request: web.Request, sub: Socket, expires: float) -> None:
    """Close when the token expires, or when the user or session stops being valid."""
    desk = request.app[DESK]
    token = _token(request) or ""
    while True:
        left = expires - time.time()
        if left <= 0:
            sub.end(UNAUTHORIZED, "token expired")
            return
        await asyncio.sleep(min(left, RECHECK_SECONDS))
        if time.time() >= expires:
            continue
        try:
            sub.user = await session_user(desk.db, desk.settings, token)
        except NotAuthenticated as exc:
            sub.end(UNAUTHORIZED, exc.message)
            return
