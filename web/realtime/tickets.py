"""/ws/tickets/<id>/ (one ticket's events, resumable with ?last_event_id=),
/ws/notifications/ (the caller's own events: their tickets, their mentions) and /ws/inbox/
(every change the caller may see)."""

from __future__ import annotations

from aiohttp import web

from desk.auth.access import can_see_event, can_see_ticket, is_inbox_event, is_own_event
from desk.events.replay import missed
from desk.models import Ticket
from web.keys import DESK, HUB
from web.realtime.connection import open_socket, serve
from web.realtime.hub import NOT_FOUND, Socket, Wants, frame, listed


async def ticket_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    desk = request.app[DESK]
    raw_id = request.match_info["id"]
    async with desk.db.reader() as session:
        ticket = await session.get(Ticket, int(raw_id)) if raw_id.isdigit() else None
    if ticket is None or not can_see_ticket(user, ticket):
        await ws.close(code=NOT_FOUND, message=b"no such ticket")
        return ws
    sub = Socket(user, ws, lambda u, e: True)
    with listed(request.app[HUB].tickets, ticket.id, sub):
        await _resume(request, sub, ticket.id)
        await serve(request, sub, expires)
    return ws


async def _resume(request: web.Request, sub: Socket, ticket_id: int) -> None:
    """Events of this ticket after `?last_event_id=`, from the database; live events that
    arrive meanwhile are queued (the socket is already listed) and sent after, without
    repeats."""
    last = request.query.get("last_event_id", "")
    if not last.isdigit():
        return
    for event in await missed(request.app[DESK].db, ticket_id, int(last)):
        if can_see_event(sub.user, event):
            await sub.ws.send_str(frame(event))
        sub.last_id = max(sub.last_id, int(event.id))


async def notifications_socket(request: web.Request) -> web.WebSocketResponse:
    return await _personal_socket(request, is_own_event)


async def inbox_socket(request: web.Request) -> web.WebSocketResponse:
    """/ws/inbox/: every change on a ticket the caller may see (desk.auth.access
    .is_inbox_event), for lists that stay current (the workspace's inbox)."""
    return await _personal_socket(request, is_inbox_event)


async def _personal_socket(request: web.Request, wants: Wants) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    sub = Socket(user, ws, wants)
    hub = request.app[HUB]
    hub.personal.add(sub)
    try:
        await serve(request, sub, expires)
    finally:
        hub.personal.discard(sub)
    return ws
