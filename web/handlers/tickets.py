"""Tickets and their messages over REST."""

from __future__ import annotations

from aiohttp import web

from desk.tickets.events import message_data
from desk.tickets.queries import TicketFilter, list_tickets, ticket_detail
from desk.tickets.service import post_message
from web.auth import require_user
from web.handlers.common import json_body, path_id
from web.keys import DESK
from web.schemas import MessageCreate, TicketListQuery


async def ticket_list(request: web.Request) -> web.Response:
    user = await require_user(request)
    q = TicketListQuery.model_validate(dict(request.query))
    f = TicketFilter(
        status=q.status, priority=q.priority, ordering=q.ordering, include_archived=q.archived
    )
    offset = (q.page - 1) * q.page_size
    count, results = await list_tickets(
        request.app[DESK].db, user, f, offset=offset, limit=q.page_size
    )
    return web.json_response(
        {
            "count": count,
            "next": _page_url(request, q.page + 1) if offset + len(results) < count else None,
            "previous": _page_url(request, q.page - 1) if q.page > 1 else None,
            "results": results,
        }
    )


def _page_url(request: web.Request, page: int) -> str:
    return str(request.url.update_query(page=page))


async def ticket_get(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response(await ticket_detail(request.app[DESK].db, user, path_id(request)))


async def message_create(request: web.Request) -> web.Response:
    user = await require_user(request)
    ticket_id = path_id(request)
    body = await json_body(request, MessageCreate)
    message = await post_message(request.app[DESK], user, ticket_id, body.body, body.is_internal)
    return web.json_response(message_data(message), status=201)
