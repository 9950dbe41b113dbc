"""GET /metrics and GET /readyz for a process without the web server (`--role smtp`,
`--role jobs`), on POSTDESK_HTTP_HOST:POSTDESK_METRICS_PORT: /metrics with the same bearer
token rule as the web's (desk.metrics.scrape_allowed), /readyz open and answered as the
web's (desk.readiness.readiness_answer), so an orchestrator can probe these replicas too.
Nothing else is served there."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from desk.context import Desk
from desk.metrics import CONTENT_TYPE, scrape_allowed
from desk.readiness import readiness_answer
from desk.startup import listen_problem

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve_metrics(desk: Desk, port: int) -> AsyncIterator[None]:
    """Serve until the block ends. Raises CannotStart if the port is taken."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(desk))
    app.router.add_get("/readyz", _readyz_handler(desk))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, desk.settings.http_host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        host = desk.settings.http_host
        raise listen_problem("metrics", "POSTDESK_METRICS_PORT", host, port, exc) from None
    log.info("metrics on %s:%s/metrics", desk.settings.http_host, port)
    try:
        yield
    finally:
        await runner.cleanup()


def _metrics_handler(desk: Desk) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        allowed = scrape_allowed(
            desk.settings.metrics_token, request.headers.get("Authorization", "")
        )
        if allowed is None:
            return web.Response(status=404, text="set POSTDESK_METRICS_TOKEN\n")
        if not allowed:
            return web.Response(status=401, text="send Authorization: Bearer <token>\n")
        await desk.metrics.refresh(desk.db)
        return web.Response(body=desk.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    return metrics


def _readyz_handler(desk: Desk) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(_request: web.Request) -> web.Response:
        status, body = await readiness_answer(desk.settings, desk.db)
        return web.json_response(body, status=status)

    return readyz
