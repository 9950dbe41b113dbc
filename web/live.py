"""Live events over WebSocket: /ws/tickets/<id>/ and /ws/notifications/.

The hub takes every event from the bus (in-process, or Redis from every replica) and offers
it to the sockets allowed to see it, by the same rules as REST (desk.auth.access). Each
socket has a bounded queue and its own writer, so a slow client never holds up the others:
one that falls QUEUE_SIZE events behind is closed with SLOW_CONSUMER.

Close codes: 4401 no, bad, expired or revoked token; 4403 access lost while subscribed
(the ticket was given to someone else); 4404 no such ticket, or one the caller may not see
(as REST's 404, so sockets do not reveal which tickets exist); 4008 too slow to keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select

from desk.auth.access import can_see_event, can_see_event_ticket, can_see_ticket, is_own_event
from desk.auth.sessions import session_user
from desk.auth.tokens import decode
from desk.chat import messages as chat_messages
from desk.chat.events import PREFIX as CHAT_PREFIX
from desk.chat.events import for_reader
from desk.chat.rooms import member_room
from desk.context import Desk
from desk.errors import DeskError, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from desk.events import Event
from desk.events.types import (
    MESSAGE_CREATED,
    TICKET_ASSIGNED,
    TICKET_CREATED,
    TICKET_STATUS_CHANGED,
    TICKET_UPDATED,
)
from desk.models import EventRecord, Ticket, User
from web.keys import DESK

UNAUTHORIZED, FORBIDDEN, NOT_FOUND, SLOW_CONSUMER = 4401, 4403, 4404, 4008
QUEUE_SIZE = 256
HEARTBEAT_SECONDS = 20.0
RECHECK_SECONDS = 60.0  # how often an open socket re-checks its user and session
RESUME_LIMIT = 1000
CLOSE_SECONDS = 10.0  # how long a closing socket may take to accept the close frame
# The names the seeds' front ends listen for.
WIRE_NAMES = {
    MESSAGE_CREATED: "message_created",
    TICKET_STATUS_CHANGED: "status_changed",
    TICKET_ASSIGNED: "assignment_updated",
    TICKET_CREATED: "ticket_created",
    TICKET_UPDATED: "ticket_updated",
}


def frame(event: Event, reader: User | None = None) -> str:
    """The event as sent. Chat messages carry ticket previews per reader (`for_reader`)."""
    data = event.data
    if (
        reader is not None
        and isinstance(data.get("message"), dict)
        and "ticket_refs" in data["message"]
    ):
        data = {**data, "message": for_reader(data["message"], reader)}
    name = WIRE_NAMES.get(event.type, event.type.removeprefix(CHAT_PREFIX))
    return json.dumps(
        {
            "id": event.id,
            "type": name,
            "ticket_id": event.ticket_id,
            "data": data,
            "at": event.at.isoformat(),
        }
    )


@dataclass(eq=False)
class Subscriber:
    user: User
    ws: web.WebSocketResponse
    wants: Callable[[User, Event], bool]
    handle: Callable[[Subscriber, dict[str, Any]], Awaitable[None]] | None = None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str = ""
    room_id: int | None = None
    desk: Desk | None = None
    last_id: int = 0  # events at or below this were sent by the resume step

    def offer(self, event: Event, text: str) -> None:
        stored = event.id.isdigit()  # typing indicators are never stored, so never resumed
        if self.close_code is not None or (stored and int(event.id) <= self.last_id):
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.end(SLOW_CONSUMER, "too slow: events were not read in time")

    def end(self, code: int, reason: str) -> None:
        """Close this socket with `code` (done by the task serving it)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.ended.set()


class Hub:
    def __init__(self) -> None:
        self.tickets: dict[int, set[Subscriber]] = defaultdict(set)
        self.rooms: dict[int, set[Subscriber]] = defaultdict(set)
        self.personal: set[Subscriber] = set()

    async def on_event(self, event: Event) -> None:
        if event.type.startswith(CHAT_PREFIX):
            self._chat(event)
            return
        text = frame(event)
        if event.ticket_id is not None:
            for sub in list(self.tickets.get(event.ticket_id, ())):
                if not can_see_event_ticket(sub.user, event):
                    sub.end(FORBIDDEN, "you can no longer see this ticket")
                elif can_see_event(sub.user, event):
                    sub.offer(event, text)
        for sub in list(self.personal):
            if sub.wants(sub.user, event):
                sub.offer(event, text)

    def _chat(self, event: Event) -> None:
        """Room events go to the room's sockets whose user is a participant; one who has
        just left hears it, then their socket closes. Mentions go to notifications."""
        members = set(event.data["participant_ids"])
        remaining = set(event.data.get("remaining", members))
        if event.type != CHAT_PREFIX + "mention":
            for sub in list(self.rooms.get(event.data["room_id"], ())):
                if sub.user.id in members:
                    sub.offer(event, frame(event, sub.user))
                if sub.user.id not in remaining:
                    sub.end(FORBIDDEN, "you are not in this room")
        for sub in list(self.personal):
            if sub.wants(sub.user, event):
                sub.offer(event, frame(event, sub.user))

    def close_all(self) -> None:
        """On shutdown: every socket closes with 1001 (going away)."""
        for subs in [*self.tickets.values(), *self.rooms.values(), self.personal]:
            for sub in list(subs):
                sub.end(1001, "server shutting down")


HUB = web.AppKey("live_hub", Hub)


def install(app: web.Application, desk: Desk) -> None:
    hub = Hub()
    app[HUB] = hub
    desk.bus.subscribe(hub.on_event)

    async def _shutdown(_app: web.Application) -> None:
        hub.close_all()

    app.on_shutdown.append(_shutdown)


def _token(request: web.Request) -> str | None:
    """`?token=` as the seeds' front ends send it, or `Sec-WebSocket-Protocol: bearer, T`
    for clients that keep tokens out of URLs (and so out of access logs)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if "bearer" in offered and offered.index("bearer") + 1 < len(offered):
        return offered[offered.index("bearer") + 1]
    return request.query.get("token")


async def _open(request: web.Request) -> tuple[web.WebSocketResponse, User | None, float]:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, protocols=("bearer",))
    await ws.prepare(request)
    desk = request.app[DESK]
    token = _token(request)
    try:
        if not token:
            raise NotAuthenticated("no token")
        user = await session_user(desk.db, desk.settings, token)
        expires = float(decode(desk.settings, token, "access")["exp"])
    except NotAuthenticated as exc:
        await ws.close(code=UNAUTHORIZED, message=exc.message.encode()[:120])
        return ws, None, 0.0
    return ws, user, expires


async def ticket_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await _open(request)
    if user is None:
        return ws
    desk = request.app[DESK]
    raw_id = request.match_info["id"]
    async with desk.db.reader() as session:
        ticket = await session.get(Ticket, int(raw_id)) if raw_id.isdigit() else None
    if ticket is None or not can_see_ticket(user, ticket):
        await ws.close(code=NOT_FOUND, message=b"no such ticket")
        return ws
    sub = Subscriber(user, ws, lambda u, e: True)
    with _held(request.app[HUB].tickets, ticket.id, sub):
        await _resume(request, desk, sub, ticket.id)
        await _serve(request, sub, expires)
    return ws


@contextlib.contextmanager
def _held(index: dict[int, set[Subscriber]], key: int, sub: Subscriber) -> Iterator[None]:
    """`sub` listed under `key` (a ticket or room) while the socket is served."""
    index[key].add(sub)
    try:
        yield
    finally:
        index[key].discard(sub)
        if not index[key]:
            index.pop(key, None)


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await _open(request)
    if user is None:
        return ws
    desk = request.app[DESK]
    raw_id = request.match_info["id"]
    try:
        async with desk.db.reader() as session:
            room = await member_room(session, user, int(raw_id)) if raw_id.isdigit() else None
    except (NotFound, PermissionDenied):
        room = None
    if room is None:
        await ws.close(code=NOT_FOUND, message=b"no such room")
        return ws
    sub = Subscriber(user, ws, lambda u, e: True, handle=_chat_request)
    sub.room_id, sub.desk = room.id, desk
    with _held(request.app[HUB].rooms, room.id, sub):
        await _serve(request, sub, expires)
    return ws


async def _chat_request(sub: Subscriber, request: dict[str, Any]) -> None:
    """What a chat client sends: the REST operations, answered by the events they cause (an
    error comes back as {"type": "error", ...})."""
    desk, kind = sub.desk, request.get("type")
    assert desk is not None and sub.room_id is not None
    try:
        if kind == "message_send":
            await chat_messages.post(desk, sub.user, sub.room_id, str(request.get("body", "")))
        elif kind == "message_edit":
            await chat_messages.edit(
                desk, sub.user, _int(request, "message_id"), str(request.get("body", ""))
            )
        elif kind == "message_delete":
            await chat_messages.remove(desk, sub.user, _int(request, "message_id"))
        elif kind in ("reaction_add", "reaction_remove"):
            await chat_messages.react(
                desk,
                sub.user,
                _int(request, "message_id"),
                str(request.get("emoji", "")),
                kind == "reaction_add",
            )
        elif kind == "typing":
            await chat_messages.typing(desk, sub.user, sub.room_id)
        else:
            raise ValidationFailed(f"unknown request type {kind!r}", field="type")
    except DeskError as exc:
        await sub.ws.send_str(
            json.dumps(
                {"type": "error", "error": exc.code, "request": kind, "message": exc.message}
            )
        )


def _int(request: dict[str, Any], name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{name} must be a number", field=name)
    return value


async def notifications_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await _open(request)
    if user is None:
        return ws
    sub = Subscriber(user, ws, is_own_event)
    hub = request.app[HUB]
    hub.personal.add(sub)
    try:
        await _serve(request, sub, expires)
    finally:
        hub.personal.discard(sub)
    return ws


async def _resume(request: web.Request, desk: Desk, sub: Subscriber, ticket_id: int) -> None:
    """Events of this ticket after `?last_event_id=`, from the database; live events that
    arrive meanwhile are queued and sent after, without repeats."""
    last = request.query.get("last_event_id", "")
    if not last.isdigit():
        return
    async with desk.db.reader() as session:
        rows = await session.scalars(
            select(EventRecord)
            .where(EventRecord.ticket_id == ticket_id, EventRecord.id > int(last))
            .order_by(EventRecord.id)
            .limit(RESUME_LIMIT)
        )
        missed = [
            Event(type=r.type, ticket_id=r.ticket_id, data=r.data, id=str(r.id), at=r.created_at)
            for r in rows
        ]
    for event in missed:
        if can_see_event(sub.user, event):
            await sub.ws.send_str(frame(event))
        sub.last_id = max(sub.last_id, int(event.id))


async def _serve(request: web.Request, sub: Subscriber, expires: float) -> None:
    """Until the client leaves or the hub ends the subscription: read what the client sends,
    write what the hub queues, watch the token. Then close with the reason's code."""
    reader = asyncio.create_task(_read(sub))
    writer = asyncio.create_task(_write(sub))
    helpers = [
        asyncio.create_task(_watch(request, sub, expires)),
        asyncio.create_task(sub.ended.wait()),
    ]
    try:
        await asyncio.wait([reader, writer, *helpers], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in helpers:
            task.cancel()
        if sub.close_code is not None and not sub.ws.closed:
            await _close(request, sub)
        # Only now: a writer cancelled while it waits for the client to drain its buffers
        # would cancel aiohttp's shared drain future, and the close frame with it.
        for task in (writer, reader):
            task.cancel()
        await asyncio.gather(reader, writer, *helpers, return_exceptions=True)


async def _close(request: web.Request, sub: Subscriber) -> None:
    """Send the close frame (aiohttp allows it from another task than the reading one). A
    client that reads nothing cannot receive it: after CLOSE_SECONDS it is disconnected."""
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await sub.ws.close(code=sub.close_code or 1000, message=sub.close_reason.encode()[:120])
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()


async def _read(sub: Subscriber) -> None:
    async for message in sub.ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            request = json.loads(message.data)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await sub.ws.send_str('{"type":"error","error":"invalid","message":"send JSON"}')
        elif request.get("type") == "ping":
            await sub.ws.send_str('{"type":"pong"}')
        elif sub.handle is not None:
            await sub.handle(sub, request)


async def _write(sub: Subscriber) -> None:
    while not sub.ws.closed and sub.close_code is None:
        await sub.ws.send_str(await sub.queue.get())


async def _watch(request: web.Request, sub: Subscriber, expires: float) -> None:
    """Close when the token expires, or when the user or session stops being valid."""
    desk = request.app[DESK]
    token = _token(request) or ""
    while True:
        left = expires - time.time()
        if left <= 0:
            sub.end(UNAUTHORIZED, "token expired")
            return
        await asyncio.sleep(min(left, RECHECK_SECONDS))
        if time.time() >= expires:
            continue
        try:
            sub.user = await session_user(desk.db, desk.settings, token)
        except NotAuthenticated as exc:
            sub.end(UNAUTHORIZED, exc.message)
            return
