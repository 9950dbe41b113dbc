"""create_app: the only composition root of the web side."""

from __future__ import annotations

from aiohttp import web

from desk.context import Desk
from web.errors import error_middleware
from web.keys import DESK
from web.routes import add_routes

MAX_BODY_BYTES = 30 * 1024 * 1024


def create_app(desk: Desk) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[DESK] = desk
    add_routes(app)
    return app
