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
from web.app import create_app
from web.connections import CappedSite
from web.keys import HUB

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve(desk: Desk) -> AsyncIterator[Subscriber]:
    app = create_app(desk)
    s = desk.settings
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=s.http_header_seconds)
    await runner.setup()
    site = CappedSite(runner, s.http_host, s.http_port, limit=s.http_max_connections)
    await site.start()
    log.info("HTTP listening on %s", ", ".join(str(a) for a in runner.addresses))
    try:
        yield app[HUB].on_event
    finally:
        await runner.cleanup()
