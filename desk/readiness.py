"""Readiness (GET /readyz): can this process serve now? The database answers and has the
schema this code expects (every Alembic revision applied), and Redis answers when one is
configured. Liveness (/healthz) asks less: a process that is only waiting for its database
is alive, and restarting it would not help."""

from __future__ import annotations

import asyncio
from typing import Any

from desk.config import Settings
from desk.db import Database
from desk.startup import CannotStart, check_redis, database_problem

# A readiness probe must answer before the prober's own timeout (our image's HEALTHCHECK
# waits 4 s): the database and Redis checks, one after the other, take at most 2 x this.
CHECK_SECONDS = 1.5


async def readiness_problems(settings: Settings, db: Database) -> dict[str, str]:
    """What is not ready, by part ("database", "redis"): one sentence each; empty when
    ready. Never raises for a part that fails."""
    problems: dict[str, str] = {}
    database = await _database_problem(settings, db)
    if database:
        problems["database"] = database
    if settings.redis_url:
        try:
            await check_redis(settings.redis_url, timeout=CHECK_SECONDS)
        except CannotStart as exc:
            problems["redis"] = exc.message
        except Exception as exc:  # e.g. a PING that times out: not ready, said in one line
            problems["redis"] = f"Redis does not answer: {type(exc).__name__}"
    return problems


async def readiness_answer(settings: Settings, db: Database) -> tuple[int, dict[str, Any]]:
    """GET /readyz's status and JSON body, the same wherever it is served (the web server,
    and the metrics port of a process without one): 200 {"status": "ready"}, or 503 in the
    standard error shape, the message naming every problem and `details.checks` holding
    them by part ("database", "redis")."""
    problems = await readiness_problems(settings, db)
    if not problems:
        return 200, {"status": "ready"}
    message = "; ".join(f"{part}: {text}" for part, text in problems.items())
    body = {
        "error": "not_ready",
        "message": f"not ready: {message}",
        "details": {"checks": problems},
    }
    return 503, body


async def _database_problem(settings: Settings, db: Database) -> str | None:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            current, head = await db.migration_lag()
    except Exception as exc:  # any failure to answer is "not ready", said in one line
        known = database_problem(settings.database_url, exc)
        return known.message if known else f"the database does not answer: {type(exc).__name__}"
    if current != head:
        return (
            f"the database is at migration {current or '(none)'}, this code needs {head}: "
            "run `postdesk migrate`"
        )
    return None
