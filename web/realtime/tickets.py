"""/ws/tickets/<id>/ (one ticket's events, resumable with ?last_event_id=; staff also say
and hear who is on the ticket: {"type": "presence", "state": "viewing" | "replying" |
"left"}, answered by `presence` frames, desk/presence.py), /ws/notifications/ (the
caller's own events: their tickets, their mentions; with ?bell=1 also `notification.added`,
each new line of their bell) and /ws/inbox/ (every change the caller may see)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from desk.auth.access import (
    bell_or_own_event,
    can_see_event,
    can_see_ticket,
    event_for,
    is_inbox_event,
    is_own_event,
)
from desk.errors import DeskError, ValidationFailed
from desk.events.replay import missed
from desk.models import Ticket, User
from web.keys import DESK, HUB
from web.realtime.connection import open_socket, serve, socket_route
from web.realtime.hub import FORBIDDEN, NOT_FOUND, Hub, Socket, Wants, frame, listed
from web.schemas import is_digits, row_id


@socket_route
async def ticket_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    desk = request.app[DESK]
    raw_id = request.match_info["id"]
    async with desk.db.reader() as session:
        ticket_id = row_id(raw_id)
        ticket = await session.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is None or not can_see_ticket(user, ticket):
        await ws.close(code=NOT_FOUND, message=b"no such ticket")
        return ws
    hub = request.app[HUB]
    socket_id = uuid.uuid4().hex
    ticket_id = ticket.id

    async def handle(sub: Socket, asked: dict[str, Any]) -> None:
        await _ticket_request(hub, ticket_id, socket_id, sub, asked)

    async def recheck(reader: User) -> tuple[int, str] | None:
        """After an access change (web.realtime.hub): the ticket as it is now."""
        async with desk.db.reader() as session:
            now = await session.get(Ticket, ticket_id)
        if now is None or not can_see_ticket(reader, now):
            return FORBIDDEN, "you can no longer see this ticket"
        return None

    sub = Socket(user, ws, lambda u, e: True, handle=handle, recheck=recheck)
    try:
        with listed(hub.tickets, ticket.id, sub):
            await _resume(request, sub, ticket.id)
            await serve(request, sub, expires)
    finally:
        gone = hub.presence.drop(ticket_id, socket_id)  # its entry ends with the socket
        if gone is not None:
            await hub.bus.publish([gone])
    return ws


async def _ticket_request(
    hub: Hub, ticket_id: int, socket_id: str, sub: Socket, asked: dict[str, Any]
) -> None:
    """What a ticket socket's client may say: its presence. A refusal comes back as
    {"type": "error", "error", "request", "message"}."""
    kind = asked.get("type")
    try:
        if kind != "presence":
            raise ValidationFailed(f"unknown request type {kind!r}", field="type")
        said = hub.presence.set(ticket_id, socket_id, sub.user, str(asked.get("state", "")))
        if said is not None:
            await hub.bus.publish([said])
    except DeskError as exc:
        error = {"type": "error", "error": exc.code, "request": kind, "message": exc.message}
        await sub.ws.send_str(json.dumps(error))


async def _resume(request: web.Request, sub: Socket, ticket_id: int) -> None:
    """Events of this ticket after `?last_event_id=`, from the database; live events that
    arrive meanwhile are queued (the socket is already listed) and sent after, without
    repeats."""
    last = request.query.get("last_event_id", "")
    if not is_digits(last):
        return
    for event in await missed(request.app[DESK].db, ticket_id, int(last)):
        if can_see_event(sub.user, event):
            await sub.ws.send_str(frame(event_for(sub.user, event)))
        sub.last_id = max(sub.last_id, int(event.id))


@socket_route
async def notifications_socket(request: web.Request) -> web.WebSocketResponse:
    bell = request.query.get("bell") in ("1", "true")  # the bell's lines too (opt-in)
    return await _personal_socket(request, bell_or_own_event if bell else is_own_event)


@socket_route
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
