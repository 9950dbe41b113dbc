"""create_app: the only composition root of the web side."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from desk.auth.google import GoogleKeys
from desk.auth.sessions import live_user
from desk.auth.tokens import VerifiedTokens
from desk.context import Desk
from desk.desk_settings import refresh_if_stale
from desk.tickets.counts import CountCache
from web.auth import Handler
from web.cors import Cors
from web.errors import error_middleware
from web.keys import COUNTS, DESK, GOOGLE, HUB, TOKENS
from web.observe import access_middleware
from web.openapi import openapi_json
from web.pages import setup_pages
from web.realtime.board import board_socket
from web.realtime.chat import chat_socket
from web.realtime.hub import Hub
from web.realtime.tickets import inbox_socket, notifications_socket, ticket_socket
from web.routes import ROUTES

MAX_BODY_BYTES = 30 * 1024 * 1024
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def create_app(desk: Desk) -> web.Application:
    cors = Cors(desk.settings.cors_origins) if desk.settings.cors_origins else None
    middlewares = [access_middleware]  # outermost: it logs and counts every answer
    middlewares += [error_middleware] if cors is None else [cors.preflight, error_middleware]
    middlewares.append(fresh_settings)
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    if cors is not None:
        app.on_response_prepare.append(cors.on_prepare)
    app[DESK] = desk
    app[GOOGLE] = GoogleKeys(desk.settings)
    app[COUNTS] = CountCache()
    app[TOKENS] = VerifiedTokens()
    app[HUB] = Hub(
        desk.bus, partial(live_user, desk.db)
    )  # subscribed to the bus by the daemon (web.server yields it)
    app.on_shutdown.append(_close_sockets)
    add_routes(app)
    setup_pages(app)
    return app


@web.middleware
async def fresh_settings(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API calls and pages see run-time settings changed by another process
    (desk/desk_settings.py); health checks and metrics do not read them, so they are not
    made to wait on it (nor fail with it while the database is away: they say so)."""
    if request.path not in HEALTH_PATHS:
        await refresh_if_stale(request.app[DESK])
    return await handler(request)


async def _close_sockets(app: web.Application) -> None:
    app[HUB].close_all()


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.endpoint())
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/ws/tickets/{id}/", ticket_socket)
    app.router.add_get("/ws/notifications/", notifications_socket)
    app.router.add_get("/ws/inbox/", inbox_socket)
    app.router.add_get("/ws/chat/{id}/", chat_socket)
    app.router.add_get("/ws/queues/{id}/board/", board_socket)
    app.router.add_get("/ws/projects/{id}/tickets/", board_socket)  # S0's path for it
