"""Tickets, their messages, workflow and attachments over REST."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from desk.ai.drafts import draft_reply
from desk.blobs import blob_path
from desk.models import User
from desk.search.tickets import search_tickets
from desk.suppressions import reply_warnings
from desk.tickets import workflow
from desk.tickets.deletion import delete_ticket
from desk.tickets.errors import TicketNotFound
from desk.tickets.events import message_data
from desk.tickets.export import ticket_export
from desk.tickets.queries import (
    TicketFilter,
    list_tickets,
    ticket_detail,
    ticket_history,
    visible_attachment,
)
from desk.tickets.service import create_ticket, post_message
from web.csv_out import stream_csv
from web.handlers.common import body_and_files, json_body, page, path_id, whole_list
from web.keys import COUNTS, DESK
from web.responses import json_response
from web.schemas import (
    Assignment,
    MessageCreate,
    StatusChange,
    TicketCreate,
    TicketExportQuery,
    TicketFilters,
    TicketListQuery,
    TicketSearchQuery,
    TicketUpdate,
)


async def ticket_list(request: web.Request, user: User) -> web.Response:
    q = TicketListQuery.model_validate(dict(request.query))
    offset = (q.page - 1) * q.page_size
    found = await list_tickets(
        request.app[DESK].db,
        user,
        _filter(q),
        offset=offset,
        limit=q.page_size,
        counts=request.app[COUNTS],
    )
    return page(request, q.page, found.count, found.results, found.has_more)


async def ticket_search(request: web.Request, user: User) -> web.Response:
    """Best match first; the same filters and access as the list, archived included."""
    q = TicketSearchQuery.model_validate(dict(request.query))
    offset = (q.page - 1) * q.page_size
    count, results, more = await search_tickets(
        request.app[DESK].db, user, q.q, _filter(q), offset=offset, limit=q.page_size
    )
    return page(request, q.page, count, results, more)


async def ticket_list_export(request: web.Request, user: User) -> web.StreamResponse:
    """Every ticket of the list with these filters, as CSV (staff)."""
    q = TicketExportQuery.model_validate(dict(request.query))
    table = await ticket_export(request.app[DESK].db, user, _filter(q))
    return await stream_csv(request, table, "tickets", bom=q.bom)


def _filter(q: TicketFilters) -> TicketFilter:
    """The query's filters, field by field by name: a new filter is a field of both models."""
    asked = {f.name: getattr(q, f.name) for f in fields(TicketFilter)}
    return TicketFilter(**{**asked, "status": tuple(q.status), "priority": tuple(q.priority)})


async def ticket_create(request: web.Request, user: User) -> web.Response:
    body, uploads = await body_and_files(request, TicketCreate)
    desk = request.app[DESK]
    ticket = await create_ticket(
        desk,
        user,
        subject=body.subject,
        description=body.description,
        priority=body.priority,
        customer_email=body.customer_email,
        uploads=uploads,
        cc=body.cc,
        queue_id=body.queue,
    )
    return json_response(await ticket_detail(desk.db, user, ticket.id), status=201)


async def ticket_get(request: web.Request, user: User) -> web.Response:
    return json_response(await ticket_detail(request.app[DESK].db, user, path_id(request)))


async def ticket_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, TicketUpdate)
    desk = request.app[DESK]
    ticket = await workflow.update(
        desk, user, path_id(request), subject=body.subject, priority=body.priority, tags=body.tags
    )
    return json_response(await ticket_detail(desk.db, user, ticket.id))


async def ticket_delete(request: web.Request, user: User) -> web.Response:
    await delete_ticket(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def ticket_set_status(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, StatusChange)
    desk = request.app[DESK]
    ticket = await workflow.set_status(desk, user, path_id(request), body.status)
    return json_response(await ticket_detail(desk.db, user, ticket.id))


async def ticket_assign(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, Assignment)
    desk = request.app[DESK]
    ticket = await workflow.assign(desk, user, path_id(request), body.assigned_agent)
    return await after_change(request, user, ticket.id)


async def ticket_archive(request: web.Request, user: User) -> web.Response:
    return await _archive(request, user, archived=True)


async def ticket_unarchive(request: web.Request, user: User) -> web.Response:
    return await _archive(request, user, archived=False)


async def _archive(request: web.Request, user: User, *, archived: bool) -> web.Response:
    ticket = await workflow.archive(request.app[DESK], user, path_id(request), archived)
    return await after_change(request, user, ticket.id)


async def after_change(
    request: web.Request, user: User, ticket_id: int, extra: dict[str, Any] | None = None
) -> web.Response:
    """The ticket as the caller now sees it (with `extra` keys: a moved card's place); an
    agent who handed a ticket to a colleague may no longer see it, and gets a plain
    confirmation instead."""
    try:
        detail = await ticket_detail(request.app[DESK].db, user, ticket_id)
    except TicketNotFound:
        detail = {"id": ticket_id, "visible": False}
    return json_response({**detail, **(extra or {})})


async def ticket_history_list(request: web.Request, user: User) -> web.Response:
    changes = await ticket_history(request.app[DESK].db, user, path_id(request))
    return whole_list(changes)


async def message_create(request: web.Request, user: User) -> web.Response:
    ticket_id = path_id(request)
    body, uploads = await body_and_files(request, MessageCreate)
    posted = await post_message(
        request.app[DESK],
        user,
        ticket_id,
        body.body,
        body.is_internal,
        uploads,
        to=body.to,
        cc=body.cc,
        status=body.status,
    )
    data = message_data(posted.message)
    data["attachments"] = posted.attachments  # as GET /api/tickets/<id>/ shows them
    data["recipients"] = posted.recipients.data()
    # The mail went out, but to an address that bounced: the agent should know.
    data["warnings"] = await reply_warnings(request.app[DESK].db, posted.message)
    return json_response(data, status=201)


async def attachment_download(request: web.Request, user: User) -> web.StreamResponse:
    """Served as a download, never rendered by the browser in our origin."""
    desk = request.app[DESK]
    attachment = await visible_attachment(desk.db, user, path_id(request))
    path = blob_path(desk.settings.attachments_dir, attachment.sha256)
    return download(path, attachment.content_type, attachment.filename)


def download(path: Path, content_type: str, filename: str) -> web.FileResponse:
    """A stored file as a download: never rendered by the browser in our origin."""
    response = web.FileResponse(path)
    response.content_type = content_type
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _disposition(filename: str) -> str:
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


async def ai_draft(request: web.Request, user: User) -> web.Response:
    """A draft only: the agent edits it and sends it as a normal reply."""
    return json_response(await draft_reply(request.app[DESK], user, path_id(request)))
