"""A queue's kanban board over REST: the board, and its columns (cards move through
POST /api/tickets/<id>/move/, web.handlers.queues)."""

from __future__ import annotations

from aiohttp import web

from desk.board import cards, columns
from desk.models import User
from web.handlers.common import json_body, path_id, whole_list
from web.keys import DESK
from web.responses import json_response
from web.schemas import BoardQuery, ColumnCreate, ColumnsQuery, ColumnUpdate


async def board_get(request: web.Request, user: User) -> web.Response:
    q = BoardQuery.model_validate(dict(request.query))
    found = await cards.board(request.app[DESK].db, user, path_id(request), q.per_column)
    return json_response(found)


async def columns_list(request: web.Request, user: User) -> web.Response:
    """S0's `GET /api/tickets/columns/?project=<id>`: the columns without their cards."""
    q = ColumnsQuery.model_validate(dict(request.query))
    return whole_list(await columns.list_columns(request.app[DESK].db, user, q.queue_id))


async def column_create(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, ColumnCreate)
    made = await columns.create_column(
        request.app[DESK],
        user,
        path_id(request),
        name=body.name,
        status=body.status,
        position=body.position,
    )
    return json_response(made, status=201)


async def column_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, ColumnUpdate)
    changes = body.model_dump(exclude_unset=True)
    changed = await columns.update_column(
        request.app[DESK], user, path_id(request), path_id(request, "c"), changes
    )
    return json_response(changed)


async def column_delete(request: web.Request, user: User) -> web.Response:
    await columns.delete_column(request.app[DESK], user, path_id(request), path_id(request, "c"))
    return web.Response(status=204)
