"""Liveness and readiness for load balancers, orchestrators and operators."""

from __future__ import annotations

from aiohttp import web

from desk.readiness import readiness_answer
from web.errors import error_response
from web.keys import DESK
from web.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[DESK].db.ping()
    except Exception as exc:
        return error_response(503, "unavailable", f"database unreachable: {type(exc).__name__}")
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 {"status": "ready"}; 503 in the standard error shape when the database does not
    answer or is behind the latest migration, or the configured Redis does not answer
    (desk.readiness.readiness_answer)."""
    desk = request.app[DESK]
    status, body = await readiness_answer(desk.settings, desk.db)
    return json_response(body, status=status)
