"""Queues, their members, moving tickets between them, and the staff and customer
directories over REST."""

from __future__ import annotations

from aiohttp import web

from desk import directory
from desk.board.cards import Drop, move_card
from desk.models import User
from desk.queues import members, service
from web.handlers.common import json_body, page, path_id, whole_list
from web.handlers.tickets import after_change
from web.keys import DESK
from web.responses import json_response
from web.schemas import (
    CustomerQuery,
    MemberAdd,
    MemberUpdate,
    QueueCreate,
    QueueUpdate,
    StaffQuery,
    TicketMove,
)


async def queues_list(request: web.Request, user: User) -> web.Response:
    return whole_list(await service.list_queues(request.app[DESK].db, user))


async def queue_create(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, QueueCreate)
    desk = request.app[DESK]
    created = await service.create_queue(
        desk.db,
        desk.settings,
        user,
        name=body.name,
        visibility=body.visibility,
        addresses=body.addresses,
    )
    return json_response(created, status=201)


async def queue_get(request: web.Request, user: User) -> web.Response:
    return json_response(await service.show_queue(request.app[DESK].db, user, path_id(request)))


async def queue_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, QueueUpdate)
    desk = request.app[DESK]
    changes = body.model_dump(exclude_unset=True)
    return json_response(await service.update_queue(desk, user, path_id(request), changes))


async def queue_delete(request: web.Request, user: User) -> web.Response:
    await service.delete_queue(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def members_list(request: web.Request, user: User) -> web.Response:
    db = request.app[DESK].db
    return whole_list(await members.list_members(db, user, path_id(request)))


async def member_add(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, MemberAdd)
    prefs = {
        "notify_new_tickets": body.notify_new_tickets,
        "mail_new_tickets": body.mail_new_tickets,
    }
    added = await members.add_member(
        request.app[DESK], user, path_id(request), body.user_id, body.role, prefs
    )
    return json_response(added, status=201)


async def member_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, MemberUpdate)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    changed = await members.change_member(
        request.app[DESK], user, path_id(request), path_id(request, "user"), changes
    )
    return json_response(changed)


async def member_remove(request: web.Request, user: User) -> web.Response:
    await members.remove_member(request.app[DESK], user, path_id(request), path_id(request, "user"))
    return web.Response(status=204)


async def ticket_move(request: web.Request, user: User) -> web.Response:
    """To another queue and/or a board column; with a column, the answer's `card` says
    where the card now is."""
    body = await json_body(request, TicketMove)
    drop = None
    if body.column is not None:
        drop = Drop(body.column, position=body.position, before=body.before, after=body.after)
    ticket, card = await move_card(
        request.app[DESK], user, path_id(request), queue_id=body.queue, drop=drop
    )
    return await after_change(request, user, ticket.id, {"card": card} if card else None)


async def staff_list(request: web.Request, user: User) -> web.Response:
    q = StaffQuery.model_validate(dict(request.query))
    wanted = directory.DirectoryQuery(search=q.search, queue=q.queue)
    offset = (q.page - 1) * q.page_size
    count, found = await directory.staff(
        request.app[DESK].db, user, wanted, offset=offset, limit=q.page_size
    )
    return page(request, q.page, count, found, offset + len(found) < count)


async def customers_list(request: web.Request, user: User) -> web.Response:
    q = CustomerQuery.model_validate(dict(request.query))
    wanted = directory.DirectoryQuery(search=q.search, company=q.company)
    offset = (q.page - 1) * q.page_size
    count, found = await directory.customers(
        request.app[DESK].db, user, wanted, offset=offset, limit=q.page_size
    )
    return page(request, q.page, count, found, offset + len(found) < count)
