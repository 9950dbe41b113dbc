"""The live hub: takes every event from the bus (in-process, or Redis from every replica) and
offers it to the sockets allowed to see it, by the same rules as REST (desk.auth.access).

Each socket has a bounded queue and its own writer, so a slow client never holds up the
others: one that falls QUEUE_SIZE events behind is closed with SLOW_CONSUMER."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from desk.auth.access import can_see_event, can_see_event_ticket, can_see_ticket_fields, event_for
from desk.chat.events import for_reader
from desk.errors import NotAuthenticated
from desk.events import Event
from desk.events.board import BoardEvent, CardMoved
from desk.events.bus import EventBus
from desk.events.chat import ChatEvent, ChatMention, ChatMessageEvent
from desk.events.people import AccessChanged, AccessRevoked
from desk.events.presence import TicketPresence
from desk.events.tickets import (
    MessageCreated,
    StatusChanged,
    TicketAssigned,
    TicketCreated,
    TicketDeleted,
    TicketEvent,
    TicketUpdated,
)
from desk.models import User
from desk.presence import PresenceBoard

# Close codes: 4401 no, bad, expired or revoked token; 4403 access lost while subscribed
# (the ticket was given to someone else); 4404 no such ticket, or one the caller may not see
# (as REST's 404, so sockets do not reveal which tickets exist); 4008 too slow to keep up.
UNAUTHORIZED, FORBIDDEN, NOT_FOUND, SLOW_CONSUMER = 4401, 4403, 4404, 4008
GOING_AWAY = 1001
QUEUE_SIZE = 256
# The names the seeds' front ends listen for; every other kind goes by its type, without
# `chat.` for the chat's and `board.` for a board's.
# The ticket changes a board's sockets hear besides its own events (new cards, and what a
# card shows: subject, priority, status, assignee; not the messages).
BOARD_TICKET_KINDS = (TicketCreated, TicketUpdated, StatusChanged, TicketAssigned)
WIRE_NAMES: dict[type[Event], str] = {
    MessageCreated: "message_created",
    StatusChanged: "status_changed",
    TicketAssigned: "assignment_updated",
    TicketCreated: "ticket_created",
    TicketUpdated: "ticket_updated",
    TicketDeleted: "ticket_deleted",
}


def frame(event: Event, reader: User | None = None) -> str:
    """The event as sent. Chat messages carry ticket previews per reader (`for_reader`).

    The payload is in `data` (postdesk's clients read it there) and again next to `type`,
    where the seeds' front ends read it (`event.message`, `event.message_id`, ...); the
    envelope's own keys are never overwritten by a payload key."""
    data = event.data()
    if reader is not None and isinstance(event, ChatMessageEvent):
        data["message"] = for_reader(event.message, reader)
    name = WIRE_NAMES.get(type(event), event.type.removeprefix("chat.").removeprefix("board."))
    envelope = {
        "id": event.id,
        "type": name,
        "ticket_id": event.ticket_id,
        "data": data,
        "at": event.at.isoformat(),
    }
    return json.dumps({**envelope, **{k: v for k, v in data.items() if k not in envelope}})


def presence_frame(ticket_id: int, people: list[dict[str, Any]], event: Event) -> str:
    """{"type": "presence", "ticket_id", "data": {"ticket_id", "people": [{"user_id",
    "name", "state", "since"}]}, "at"}, the payload again beside `type` as in every frame."""
    data = {"ticket_id": ticket_id, "people": people}
    envelope = {
        "id": event.id,
        "type": "presence",
        "ticket_id": ticket_id,
        "data": data,
        "at": event.at.isoformat(),
    }
    return json.dumps({**envelope, "people": people})


def _as_read(event: Event, text: str, reader: User) -> str:
    """`text` (the event's frame as staff read it), or the frame of the event as `reader`
    receives it where that differs (desk.auth.access.event_for: team-only fields)."""
    if not isinstance(event, TicketEvent):
        return text
    shown = event_for(reader, event)
    return text if shown is event else frame(shown)


Wants = Callable[[User, Event], bool]
Handler = Callable[["Socket", dict[str, Any]], Awaitable[None]]
# Whether a socket may stay open for its reader with their access as it is now: None, or
# the close code and reason (the codes its connect would have refused it with).
Recheck = Callable[[User], Awaitable[tuple[int, str] | None]]
# A person's account and memberships as they are now, for session `sid`; raises
# NotAuthenticated (desk.auth.sessions.live_user).
LoadUser = Callable[[int, str], Awaitable[User]]


@dataclass(eq=False)
class Socket:
    """One open WebSocket as the hub sees it: who reads it, what it wants, its queue."""

    user: User  # re-read while the socket is open (web.realtime.connection._watch)
    ws: web.WebSocketResponse
    wants: Wants
    handle: Handler | None = None  # what the client may ask (the chat socket's requests)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str = ""
    last_id: int = 0  # events at or below this were sent by the resume step
    session_id: str = ""  # the login the token belongs to (a logout ends its sockets)
    recheck: Recheck | None = None  # what a socket of one ticket or board re-checks

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
    def __init__(self, bus: EventBus, load_user: LoadUser) -> None:
        self.load_user = load_user  # a changed access is reloaded (AccessChanged)
        self.tickets: dict[int, set[Socket]] = defaultdict(set)
        self.rooms: dict[int, set[Socket]] = defaultdict(set)
        self.personal: set[Socket] = set()
        self.bus = bus  # presence answers go back out on it
        self.presence = PresenceBoard()
        self.boards: dict[int, set[Socket]] = defaultdict(set)  # by queue

    async def on_event(self, event: Event) -> None:
        """The hub's subscriber on the bus (subscribed by the daemon, for every kind)."""
        if isinstance(event, AccessRevoked):
            self._revoke(event)
            return
        if isinstance(event, AccessChanged):
            await self._access_changed(event)
            return
        if isinstance(event, TicketPresence):
            await self._presence(event)
            return
        if isinstance(event, ChatEvent):
            self._chat(event)
            return
        if not (self.tickets or self.boards or self.personal):
            return  # no socket to offer it to: not worth framing (a mail batch has many)
        text = frame(event)
        if isinstance(event, BoardEvent):
            self._board(event, text)
            return
        if isinstance(event, TicketEvent):
            self._ticket(event, text)
            if isinstance(event, BOARD_TICKET_KINDS):
                self._board(event, text)
        for sub in list(self.personal):
            if sub.wants(sub.user, event):
                sub.offer(event, _as_read(event, text, sub.user))

    def _ticket(self, event: TicketEvent, text: str) -> None:
        for sub in list(self.tickets.get(event.ticket_id, ())):
            if not can_see_event_ticket(sub.user, event):
                sub.end(FORBIDDEN, "you can no longer see this ticket")
            elif can_see_event(sub.user, event):
                sub.offer(event, _as_read(event, text, sub.user))

    async def _presence(self, event: TicketPresence) -> None:
        """What a process said of a ticket's presence: the ticket's staff sockets here get
        the whole list again (customers never do); another process asking is answered."""
        answer = self.presence.hear(event)
        text = presence_frame(event.ticket, self.presence.people(event.ticket), event)
        for sub in list(self.tickets.get(event.ticket, ())):
            if sub.user.is_staff:
                sub.offer(event, text)
        if answer is not None:
            await self.bus.publish([answer])

    def _board(self, event: BoardEvent | TicketEvent, text: str) -> None:
        """A queue's board sockets get its column events, and the card moves and ticket
        changes of the tickets their reader may see on that board (a card leaving for
        another queue: by the rule of the board it leaves)."""
        queue_id = event.queue_id if isinstance(event, BoardEvent) else event.ticket.queue_id
        for sub in list(self.boards.get(queue_id, ())):
            if isinstance(event, CardMoved | TicketEvent):
                t = event.ticket
                fields = (t.customer_id, t.assigned_agent_id, t.company_id, queue_id)
                if not can_see_ticket_fields(sub.user, *fields):
                    continue
            sub.offer(event, text)

    def _chat(self, event: ChatEvent) -> None:
        """Room events go to the room's sockets whose user is a participant; one who has
        just left hears it, then their socket closes. Mentions go to notifications."""
        members = set(event.participant_ids)
        remaining = set(event.still_in_room())
        if not isinstance(event, ChatMention):
            for sub in list(self.rooms.get(event.room_id, ())):
                if sub.user.id in members:
                    sub.offer(event, frame(event, sub.user))
                if sub.user.id not in remaining:
                    sub.end(FORBIDDEN, "you are not in this room")
        for sub in list(self.personal):
            if sub.wants(sub.user, event):
                sub.offer(event, frame(event, sub.user))

    def close_all(self) -> None:
        """On shutdown: every socket closes with 1001 (going away)."""
        for sub in self.every_socket():
            sub.end(GOING_AWAY, "server shutting down")

    def every_socket(self) -> list[Socket]:
        return [
            s
            for subs in [
                *self.tickets.values(),
                *self.rooms.values(),
                *self.boards.values(),
                self.personal,
            ]
            for s in subs
        ]

    def _revoke(self, event: AccessRevoked) -> None:
        """A logout (one session) or a deactivation (all): the person's sockets close now
        with 4401, on this process; every other process hears the same event."""
        for sub in self.every_socket():
            if sub.user.id == event.user_id and event.session_id in (None, sub.session_id):
                sub.end(UNAUTHORIZED, event.reason)

    async def _access_changed(self, event: AccessChanged) -> None:
        """A membership, role or visibility changed: the sockets of these people read their
        access again (every later event is checked by it, since events are handed on one
        at a time) and close if they may no longer be open: a ticket they no longer see
        (4403), a board of a queue they left (4404) or any board once not staff (4403)."""
        changed = set(event.user_ids)
        fresh: dict[tuple[int, str], User | None] = {}
        for sub in self.every_socket():
            if sub.user.id not in changed or sub.close_code is not None or not sub.session_id:
                continue
            key = (sub.user.id, sub.session_id)
            if key not in fresh:
                fresh[key] = await self._reload(*key)
            user = fresh[key]
            if user is None:
                sub.end(UNAUTHORIZED, "this session has ended; log in again")
                continue
            sub.user = user
            verdict = await sub.recheck(user) if sub.recheck is not None else None
            if verdict is not None:
                sub.end(*verdict)

    async def _reload(self, user_id: int, session_id: str) -> User | None:
        try:
            return await self.load_user(user_id, session_id)
        except NotAuthenticated:
            return None


@contextlib.contextmanager
def listed(index: dict[int, set[Socket]], key: int, sub: Socket) -> Iterator[None]:
    """`sub` listed under `key` (a ticket, room or queue) while the socket is served."""
    index[key].add(sub)
    try:
        yield
    finally:
        index[key].discard(sub)
        if not index[key]:
            index.pop(key, None)
