"""Presence on tickets: "Anna is viewing", "Anna is replying", so two agents do not answer
the same customer twice. Staff only: a customer neither says nor hears it.

Each process keeps its own sockets' entries (`mine`) and what every process last said
(`said`, its own included, as the bus brings it back). A process tells the others its whole
list for a ticket whenever it changes (a socket says what it does, or closes); a socket's
first word also asks the others to tell theirs, so someone who opens a ticket on one
replica learns who is there on the others. An entry ends with its socket (state `left` or
the socket closing); the bus is the only link, so with Redis this works across replicas and
without it within the one process.

A process that dies without closing its sockets (a crash: a shutdown closes each socket,
which says so) leaves its last list with the others until they restart; each entry shows
its `since`, so a client may treat a very old one as stale."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from desk.errors import PermissionDenied, ValidationFailed
from desk.events.presence import Presence, TicketPresence
from desk.models import User, utcnow

STATES = ("viewing", "replying")
LEFT = "left"
# With several sockets of one person, the busier state is the one shown.
RANK = {"viewing": 1, "replying": 2}


class PresenceBoard:
    """What this process knows of presence on tickets (one per process, held by the hub)."""

    def __init__(self) -> None:
        self.process = uuid.uuid4().hex
        self.mine: dict[int, dict[str, Presence]] = defaultdict(dict)
        self.said: dict[int, dict[str, tuple[Presence, ...]]] = defaultdict(dict)

    def set(self, ticket_id: int, socket: str, user: User, state: str) -> TicketPresence | None:
        """A socket of this process says what its person does; the event to publish, or
        None when nothing changed. PermissionDenied for a customer; ValidationFailed for a
        state other than viewing, replying or left."""
        if not user.is_staff:
            raise PermissionDenied("presence is for agents and admins")
        if state == LEFT:
            return self.drop(ticket_id, socket)
        if state not in STATES:
            raise ValidationFailed(
                f"state must be one of {', '.join((*STATES, LEFT))}", field="state"
            )
        here = self.mine[ticket_id]
        before = here.get(socket)
        if before is not None and before.state == state:
            return None
        here[socket] = Presence(
            socket=socket,
            user_id=user.id,
            name=user.name or user.email,
            state=state,
            since=utcnow(),
        )
        return self._said(ticket_id, ask=before is None)

    def drop(self, ticket_id: int, socket: str) -> TicketPresence | None:
        """The socket left the ticket (or closed): the event to publish, or None if it
        had said nothing."""
        here = self.mine.get(ticket_id, {})
        if here.pop(socket, None) is None:
            return None
        if not here:
            self.mine.pop(ticket_id, None)
        return self._said(ticket_id, ask=False)

    def _said(self, ticket_id: int, *, ask: bool) -> TicketPresence:
        here = tuple(self.mine.get(ticket_id, {}).values())
        return TicketPresence(ticket=ticket_id, process=self.process, here=here, ask=ask)

    def hear(self, event: TicketPresence) -> TicketPresence | None:
        """Take what a process said; the answer to publish when another process asks and
        this one has sockets on the ticket."""
        if event.here:
            self.said[event.ticket][event.process] = event.here
        else:
            self.said[event.ticket].pop(event.process, None)
            if not self.said[event.ticket]:
                self.said.pop(event.ticket, None)
        if event.ask and event.process != self.process and self.mine.get(event.ticket):
            return self._said(event.ticket, ask=False)
        return None

    def people(self, ticket_id: int) -> list[dict[str, Any]]:
        """Who is on the ticket, one entry per person (their busiest socket), oldest
        first: [{"user_id", "name", "state", "since"}]."""
        best: dict[int, Presence] = {}
        for entries in self.said.get(ticket_id, {}).values():
            for p in entries:
                held = best.get(p.user_id)
                if held is None or (RANK[p.state], -p.since.timestamp()) > (
                    RANK[held.state],
                    -held.since.timestamp(),
                ):
                    best[p.user_id] = p
        shown = sorted(best.values(), key=lambda p: (p.since, p.user_id))
        return [
            {"user_id": p.user_id, "name": p.name, "state": p.state, "since": p.since.isoformat()}
            for p in shown
        ]
