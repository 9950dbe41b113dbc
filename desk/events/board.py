"""The board events of a queue's kanban board (desk/board/): a card moved, a column made,
changed or deleted. They go to the queue's board sockets (/ws/queues/<id>/board/) only:
never stored, never resumed, never a webhook (the board itself is the state; a client that
reconnects reads GET /api/queues/<id>/board/ again)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from desk.events.base import Event
from desk.events.tickets import TicketView


@dataclass(frozen=True, kw_only=True)
class ColumnView:
    """A column in an event: the API's column fields (without its cards)."""

    id: int
    queue_id: int
    name: str
    position: int
    status: str | None

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "queue_id": self.queue_id,
            "name": self.name,
            "position": self.position,
            "status": self.status,
            "queue": self.queue_id,  # S0's name for its project, as tickets carry it
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Self:
        return cls(
            id=d["id"],
            queue_id=d["queue_id"],
            name=d["name"],
            position=d["position"],
            status=d["status"],
        )


@dataclass(frozen=True, kw_only=True)
class BoardEvent(Event):
    """Any event of one queue's board: it goes to that board's sockets."""

    stored = False
    queue_id: int


@dataclass(frozen=True, kw_only=True)
class CardMoved(BoardEvent):
    """A card put in a column at `rank` (by a move, or because its ticket's status changed
    or it came into the queue), or gone from this board (`column_id` None: its ticket moved
    to another queue). Readers who may not see the ticket never get it."""

    type = "board.card_moved"
    ticket: TicketView
    column_id: int | None
    rank: int | None

    @property
    def ticket_id(self) -> int:
        return self.ticket.id

    def data(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "ticket": self.ticket.data(),
            "column_id": self.column_id,
            "rank": self.rank,
            "column": self.column_id,  # S0's TicketPosition names
            "queue": self.queue_id,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            id=id,
            at=at,
            queue_id=data["queue_id"],
            ticket=TicketView.from_data(data["ticket"]),
            column_id=data["column_id"],
            rank=data["rank"],
        )


@dataclass(frozen=True, kw_only=True)
class ColumnEvent(BoardEvent):
    """A column made, changed or deleted: `column` is that column, `columns` the board's
    columns after the change, left to right (positions may have shifted)."""

    column: ColumnView
    columns: tuple[ColumnView, ...]

    def data(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "column": self.column.data(),
            "columns": [c.data() for c in self.columns],
            "queue": self.queue_id,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            id=id,
            at=at,
            queue_id=data["queue_id"],
            column=ColumnView.from_data(data["column"]),
            columns=tuple(ColumnView.from_data(c) for c in data["columns"]),
        )


@dataclass(frozen=True, kw_only=True)
class ColumnCreated(ColumnEvent):
    type = "board.column_created"


@dataclass(frozen=True, kw_only=True)
class ColumnUpdated(ColumnEvent):
    type = "board.column_updated"


@dataclass(frozen=True, kw_only=True)
class ColumnDeleted(ColumnEvent):
    """Its cards went back to the columns of their statuses (desk/board/columns.py)."""

    type = "board.column_deleted"
