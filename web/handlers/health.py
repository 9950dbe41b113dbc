"""Liveness and readiness for load balancers, orchestrators and operators."""

from __future__ import annotations

from aiohttp import web

from desk.readiness import readiness_problems
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
    answer or is behind the latest migration, or the configured Redis does not answer: the
    message names every problem, `details.checks` has them by part ("database", "redis")."""
    desk = request.app[DESK]
    problems = await readiness_problems(desk.settings, desk.db)
    if problems:
        message = "; ".join(f"{part}: {text}" for part, text in problems.items())
        return error_response(503, "not_ready", f"not ready: {message}", checks=problems)
    return json_response({"status": "ready"})
