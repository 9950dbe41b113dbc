"""The web component the daemon starts (registered as an entry point, so the daemon never
imports web/): serves create_app on POSTDESK_HTTP_HOST/PORT within the bounds of
web.connections, and hands the daemon the live
hub's subscriber, which it subscribes to the bus with every other listener."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from desk.context import Desk
from desk.events import Subscriber
from desk.startup import listen_problem
from web.app import create_app
from web.connections import CappedSite
from web.keys import HUB
from web.observe import client_errors, server_log

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve(desk: Desk) -> AsyncIterator[Subscriber]:
    s = desk.settings
    app = create_app(desk)
    # On stopping, the open WebSockets are closed with 1001 at once (app.on_shutdown); other
    # requests in flight get a quarter of the daemon's stopping time to finish. The
    # keep-alive timer bounds the wait for a request's headers (slow clients). The access
    # log is web.observe's middleware (route patterns, never raw paths); the request
    # handler's own errors go to a logger that turns a client's malformed request into one
    # warning line.
    server_log.addFilter(client_errors)
    runner = web.AppRunner(
        app,
        access_log=None,
        logger=server_log,
        shutdown_timeout=s.shutdown_seconds / 4,
        keepalive_timeout=s.http_header_seconds,
    )
    await runner.setup()
    site = CappedSite(runner, s.http_host, s.http_port, limit=s.http_max_connections)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise listen_problem("HTTP", "POSTDESK_HTTP_PORT", s.http_host, s.http_port, exc) from None
    log.info("HTTP listening on %s", ", ".join(str(a) for a in runner.addresses))
    try:
        yield app[HUB].on_event
    finally:
        await runner.cleanup()
