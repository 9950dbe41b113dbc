"""Analytics for site admins (a queue's managers read their queue's with `?queue=`), as
JSON or (`?format=csv`) as a CSV table a spreadsheet opens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from desk import analytics
from desk.errors import ValidationFailed
from desk.models import User, utcnow
from desk.time_entries import TimeFilter
from web.csv_out import csv_response
from web.keys import DESK
from web.responses import json_response
from web.schemas import ReportQuery, ResolutionQuery, TimeReportQuery, VolumeQuery


async def summary(request: web.Request, caller: User) -> web.Response:
    q = ReportQuery.model_validate(dict(request.query))
    analytics.check_report_access(caller, q.queue)
    data = await analytics.summary(request.app[DESK].db, q.queue)
    rows = [("status", k, v) for k, v in data["by_status"].items()]
    rows += [("backlog_priority", k, v) for k, v in data["backlog_by_priority"].items()]
    rows += [(name, "", data[name]) for name in ("total", "backlog", "unassigned", "archived")]
    return _answer(q.format, data, ("measure", "key", "count"), rows, "summary")


async def volume(request: web.Request, caller: User) -> web.Response:
    q = VolumeQuery.model_validate(dict(request.query))
    analytics.check_report_access(caller, q.queue)
    days = await analytics.volume(request.app[DESK].db, q.days, queue_id=q.queue)
    rows = [(d["date"], d["created"], d["resolved"]) for d in days]
    return _answer(
        q.format, {"days": q.days, "results": days}, ("date", "created", "resolved"), rows, "volume"
    )


async def resolution(request: web.Request, caller: User) -> web.Response:
    q = ResolutionQuery.model_validate(dict(request.query))
    analytics.check_report_access(caller, q.queue)
    until = q.until or utcnow()
    since = q.since or until - timedelta(days=q.days)
    if since >= until:
        raise ValidationFailed("since must be before until", field="since")
    data = await analytics.resolution(request.app[DESK].db, analytics.Period(since, until, q.queue))
    columns = (
        "agent_id",
        "name",
        "email",
        "resolution_count",
        "resolution_average_seconds",
        "resolution_median_seconds",
        "first_response_count",
        "first_response_average_seconds",
        "first_response_median_seconds",
    )
    overall = {"agent_id": "all", "name": "", "email": "", **data["overall"]}
    rows = [tuple(a.get(c) for c in columns) for a in [*data["agents"], overall]]
    return _answer(q.format, data, columns, rows, "resolution")


async def time_spent(request: web.Request, caller: User) -> web.Response:
    """Minutes logged per agent in a period of days (S4's time analytics)."""
    q = TimeReportQuery.model_validate(dict(request.query))
    analytics.check_report_access(caller, q.queue)
    until = q.until or utcnow().date()
    since = q.since or until - timedelta(days=q.days - 1)
    if since > until:
        raise ValidationFailed("since must not be after until", field="since")
    f = TimeFilter(since=since, until=until, agent=q.agent, queue=q.queue)
    data = await analytics.time_spent(request.app[DESK].db, f)
    columns = ("agent_id", "name", "email", "minutes", "hours", "entries", "tickets")
    overall = {"agent_id": "all", "name": "", "email": "", **data["overall"]}
    rows = [tuple(a.get(c) for c in columns) for a in [*data["agents"], overall]]
    return _answer(q.format, data, columns, rows, "time")


def _answer(
    fmt: str, data: dict[str, Any], columns: Sequence[str], rows: Sequence[Sequence[Any]], name: str
) -> web.Response:
    if fmt == "json":
        return json_response(data)
    return csv_response(columns, rows, name)
