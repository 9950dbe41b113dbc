"""Liveness for load balancers and operators."""

from __future__ import annotations

from aiohttp import web

from web.errors import error_response
from web.keys import DESK
from web.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[DESK].db.ping()
    except Exception as exc:
        return error_response(503, "unavailable", f"database unreachable: {type(exc).__name__}")
    return json_response({"status": "ok"})
