"""GET /metrics for a process without the web server (`--role smtp`, `--role jobs`), on
POSTDESK_HTTP_HOST:POSTDESK_METRICS_PORT, with the same bearer token rule as the web's
/metrics (desk.metrics.scrape_allowed). Nothing else is served there."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from desk.context import Desk
from desk.metrics import CONTENT_TYPE, scrape_allowed
from desk.startup import listen_problem

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve_metrics(desk: Desk, port: int) -> AsyncIterator[None]:
    """Serve until the block ends. Raises CannotStart if the port is taken."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(desk))
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
