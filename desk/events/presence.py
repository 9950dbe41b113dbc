"""Who is on a ticket right now, said between processes: each process tells the others the
whole list of its own sockets on the ticket (desk/presence.py keeps what they said)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from desk.events.base import Event, must_time


@dataclass(frozen=True, kw_only=True)
class Presence:
    """One staff member's socket on a ticket, and what they are doing there."""

    socket: str  # the socket's own id, unique across processes
    user_id: int
    name: str
    state: str  # "viewing" | "replying"
    since: datetime

    def data(self) -> dict[str, Any]:
        return {
            "socket": self.socket,
            "user_id": self.user_id,
            "name": self.name,
            "state": self.state,
            "since": self.since.isoformat(),
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Self:
        return cls(
            socket=d["socket"],
            user_id=d["user_id"],
            name=d["name"],
            state=d["state"],
            since=must_time(d["since"]),
        )


@dataclass(frozen=True, kw_only=True)
class TicketPresence(Event):
    """Process `process` now has these sockets on the ticket (the list replaces what it
    said before; empty: none). `ask`: a socket has just joined there, and the other
    processes answer with their own lists. Never stored, never resumed, never a webhook;
    the hub turns it into a `presence` frame for the ticket's staff sockets."""

    type = "ticket.presence"
    stored = False
    ticket: int
    process: str
    here: tuple[Presence, ...]
    ask: bool = False

    @property
    def ticket_id(self) -> int:
        return self.ticket

    def data(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket,
            "process": self.process,
            "here": [p.data() for p in self.here],
            "ask": self.ask,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            id=id,
            at=at,
            ticket=data["ticket_id"],
            process=data["process"],
            here=tuple(Presence.from_data(p) for p in data["here"]),
            ask=data.get("ask", False),
        )
