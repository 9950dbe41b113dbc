"""What one web process lets clients hold: at most POSTDESK_HTTP_MAX_CONNECTIONS open
connections (one more is answered 503 and closed at once, before it costs a request
handler), and POSTDESK_HTTP_HEADER_SECONDS to send a request's headers, counted from the
connection's opening or from the previous response (a client that dribbles a header a byte
at a time, slowloris-style, is closed then).

The header bound is aiohttp's keep-alive timer: in 3.14 (tested) it is armed when a connection
opens and again after each response, is not reset by incoming bytes, and closes the
connection only while no request is being handled, so a slow upload of a body whose headers
came in time is not cut (the body limits are the app's client_max_size)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class _Refused(asyncio.Protocol):
    """A connection over the cap: told so and closed, without reading anything."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY)
        transport.close()


class _Capped:
    """aiohttp's protocol factory, refusing connections over `limit`. Counted from the
    server's open connections; a burst accepted in one loop turn may pass it by a few."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server, self._limit = server, limit
        self._warned = False

    def __call__(self) -> asyncio.Protocol:
        if len(self._server.connections) >= self._limit:
            if not self._warned:
                log.warning("HTTP connection refused: %d already open", self._limit)
                self._warned = True
            return _Refused()
        self._warned = False
        return self._server()


class CappedSite(web.TCPSite):
    """A TCPSite whose listener hands connections through _Capped."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, limit: int) -> None:
        super().__init__(runner, host, port)
        self._limit = limit

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert isinstance(server, web.Server)
        self._server = await asyncio.get_running_loop().create_server(
            _Capped(server, self._limit), self._host, self._port, backlog=self._backlog
        )
