"""create_app: the only composition root of the web side."""

from __future__ import annotations

from aiohttp import web

from desk.context import Desk
from desk.tickets.counts import CountCache
from web import live
from web.errors import error_middleware
from web.keys import COUNTS, DESK, RESPONSES
from web.openapi import openapi_json
from web.responses import SnapshotResponses
from web.routes import ROUTES

MAX_BODY_BYTES = 30 * 1024 * 1024


def create_app(desk: Desk) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[DESK] = desk
    app[COUNTS] = CountCache()
    app[RESPONSES] = SnapshotResponses(desk.settings.response_cache_entries)
    live.install(app, desk)
    add_routes(app)
    return app


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/ws/tickets/{id}/", live.ticket_socket)
    app.router.add_get("/ws/notifications/", live.notifications_socket)
    app.router.add_get("/ws/chat/{id}/", live.chat_socket)
