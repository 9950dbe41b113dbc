"""Time entries (S4) over REST, and their CSV export: the rules are desk/time_entries.py's."""

from __future__ import annotations

from aiohttp import web

from desk.models import User
from desk.time_entries import (
    TimeFilter,
    Work,
    add_entry,
    delete_entry,
    edit_entry,
    entry_export,
    ticket_entries,
)
from web.csv_out import stream_csv
from web.handlers.common import json_body, path_id
from web.keys import DESK
from web.responses import json_response
from web.schemas import TimeEntryWork, TimeExportQuery


def _work(body: TimeEntryWork) -> Work:
    minutes, day = body.total_minutes, body.day
    return Work(minutes=minutes, note=body.text, worked_on=day, user_id=body.user_id)


async def entries_list(request: web.Request, user: User) -> web.Response:
    return json_response(await ticket_entries(request.app[DESK].db, user, path_id(request)))


async def entry_create(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, TimeEntryWork)
    entry = await add_entry(request.app[DESK], user, path_id(request), _work(body))
    return json_response(entry, status=201)


async def entry_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, TimeEntryWork)
    return json_response(await edit_entry(request.app[DESK], user, path_id(request), _work(body)))


async def entry_delete(request: web.Request, user: User) -> web.Response:
    await delete_entry(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def entries_export(request: web.Request, user: User) -> web.StreamResponse:
    q = TimeExportQuery.model_validate(dict(request.query))
    f = TimeFilter(since=q.since, until=q.until, agent=q.agent, queue=q.queue, ticket=q.ticket)
    table = await entry_export(request.app[DESK].db, user, f)
    return await stream_csv(request, table, "time-entries", bom=q.bom)
