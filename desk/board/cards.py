"""The board of a queue as a caller sees it, and moving a card (POST /api/tickets/<id>/move/
with a column): by drag order, and through the workflow when the column stands for a
status. Placement rules and ranks: desk/board/placement.py."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue, ticket_filter
from desk.board.columns import column_data
from desk.board.placement import (
    card_moved,
    column_order,
    columns_of,
    fits,
    home_column,
    placed_fitting,
    put,
    rank_between,
)
from desk.context import Desk, PendingEvent
from desk.db import Database
from desk.errors import Conflict, PermissionDenied, ValidationFailed
from desk.models import BoardColumn, Ticket, TicketPosition, User
from desk.queues.service import get_queue, require_member, require_staff
from desk.tickets.guard import require_writable
from desk.tickets.moves import change_queue
from desk.tickets.workflow import change_status, load_for_change

MAX_CARDS = 1000  # per column in one answer; `card_count` says how many there are
OTHER = "Other"  # the board's own column for cards no column may show


@dataclass(frozen=True)
class Drop:
    """Where a dragged card goes: a column, and in it an index among the cards the caller
    sees (`position`, 0 = top) or a neighbour (`before` / `after`, ticket ids); none of
    them: the bottom."""

    column_id: int
    position: int | None = None
    before: int | None = None
    after: int | None = None


CARD_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.status,
    Ticket.priority,
    Ticket.customer_id,
    Ticket.assigned_agent_id,
    Ticket.updated_at,
    TicketPosition.column_id,
    TicketPosition.rank,
)


async def board(db: Database, viewer: User, queue_id: int, per_column: int) -> dict[str, Any]:
    """The queue's columns, left to right, each with the live (unarchived) cards `viewer`
    may see (the queue's visibility rule, desk.auth.access), top to bottom: at most
    `per_column`, with `card_count` the number there are. Cards of a status no column
    stands for, when no column stands for none, come last in a column `Other` the board
    makes up (`id` null: nothing is dropped there). Staff members of the queue and site
    admins (others: NotFound)."""
    require_staff(viewer)
    async with db.reader() as session:
        queue = await get_queue(session, queue_id)
        require_member(viewer, queue_id)
        columns = await columns_of(session, queue_id)
        rows = await session.execute(
            select(*CARD_COLUMNS)
            .outerjoin(TicketPosition, TicketPosition.ticket_id == Ticket.id)
            .where(Ticket.queue_id == queue_id, Ticket.archived_at.is_(None), ticket_filter(viewer))
        )
        by_id = {c.id: c for c in columns}
        cards: dict[int | None, list[dict[str, Any]]] = {c.id: [] for c in columns}
        cards[None] = []
        for row in rows.mappings():
            at = by_id.get(row["column_id"])
            placed = at is not None and fits(at, row["status"])
            home = home_column(columns, row["status"])
            column_id = row["column_id"] if placed else (home.id if home else None)
            cards[column_id].append(_card(row, column_id, row["rank"] if placed else None))
    shown = [column_data(c) for c in columns]
    if cards[None]:
        other = {"id": None, "queue_id": queue.id, "name": OTHER, "status": None}
        shown.append({**other, "position": len(columns)})
    answer = []
    for column in shown:
        found = sorted(cards[column["id"]], key=_order)
        for n, card in enumerate(found):
            card["position"] = n
        answer.append({**column, "card_count": len(found), "cards": found[:per_column]})
    return {"queue_id": queue.id, "queue": queue.id, "name": queue.name, "columns": answer}


def _order(card: dict[str, Any]) -> tuple[bool, int, int]:
    """Placed cards by rank, then the never placed, oldest first."""
    return (card["rank"] is None, card["rank"] or 0, card["id"])


def _card(row: Any, column_id: int | None, rank: int | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ticket_id": row["id"],
        "subject": row["subject"],
        "title": row["subject"],  # S0's name for it
        "status": row["status"],
        "priority": row["priority"],
        "customer_id": row["customer_id"],
        "assigned_agent_id": row["assigned_agent_id"],
        "assigned_agent": row["assigned_agent_id"],
        "updated_at": row["updated_at"],
        "column_id": column_id,
        "column": column_id,  # S0's Ticket.column
        "rank": rank,
    }


async def move_card(
    desk: Desk, actor: User, ticket_id: int, *, queue_id: int | None, drop: Drop | None
) -> tuple[Ticket, dict[str, Any] | None]:
    """Move the ticket to another queue (`queue_id`, desk.tickets.moves) and/or its card
    to `drop`, in one transaction. A column with a status asks the workflow for it first
    (refused: 403/409 and nothing moves); when the workflow lands on another status
    (reopening an assigned ticket gives ASSIGNED) that is a refusal too (409, the reason
    in the message, `details.lands_on` what the workflow gives): a card never lands in a
    column it was not dropped in. Moving a card
    takes a member of the ticket's queue (any role) or a site admin. Answers the ticket
    and where its card now is (`column_id`, `rank`, `position` as the caller sees it)."""
    async with desk.change() as (session, events):
        ticket = await load_for_change(session, actor, ticket_id)
        if not actor.is_staff:
            raise PermissionDenied("only agents and admins move tickets")
        await require_writable(session, ticket)
        if queue_id is not None:
            await change_queue(session, desk, events, actor, ticket, queue_id)
        if drop is None:
            return ticket, None
        column = await session.get(BoardColumn, drop.column_id, with_for_update=True)
        if column is None or column.queue_id != ticket.queue_id:
            raise ValidationFailed(
                f"no column {drop.column_id} on the board of the ticket's queue", field="column"
            )
        if not may_in_queue(actor, ticket.queue_id, "work"):
            raise PermissionDenied("moving a card takes a member of the ticket's queue")
        if column.status is not None and column.status != ticket.status:
            steps: list[PendingEvent] = []
            await change_status(session, desk, steps, actor, ticket, column.status)
            # The card's moves on the way (a status taken on the way, the workflow's own
            # placing) are not told: the board hears where it ends.
            events.extend(e for e in steps if not _card_move(e))
            if ticket.status != column.status:  # raising rolls the whole move back
                raise Conflict(
                    f"the workflow makes this ticket {ticket.status}, not {column.status}"
                    f" (column {column.name!r}); set the status or the assignee first",
                    field="column",
                    lands_on=str(ticket.status),
                )
        columns = await columns_of(session, ticket.queue_id)
        await _drop(session, events, actor, ticket, column, columns, drop)
        return ticket, await _where(session, actor, ticket, columns)


def _card_move(event: PendingEvent) -> bool:
    return isinstance(event, partial) and event.func is card_moved


async def _drop(
    session: AsyncSession,
    events: list[PendingEvent],
    actor: User,
    ticket: Ticket,
    column: BoardColumn,
    columns: list[BoardColumn],
    drop: Drop,
) -> None:
    order = [(t, r) for t, r in await column_order(session, column, columns) if t != ticket.id]
    ids = [t for t, _ in order]
    seen = await _visible(session, actor, ids)
    shown = [t for t in ids if t in seen]
    nxt: int | None = None
    if drop.before is not None:
        nxt = _neighbour(shown, drop.before, "before")
    elif drop.after is not None:
        at = ids.index(_neighbour(shown, drop.after, "after")) + 1
        nxt = ids[at] if at < len(ids) else None
    elif drop.position is not None and drop.position < len(shown):
        nxt = shown[drop.position]
    if nxt is None:
        prev = ids[-1] if ids else None
    else:
        at = ids.index(nxt)
        prev = ids[at - 1] if at > 0 else None
    rank = await rank_between(session, column.id, order, prev, nxt)
    await put(session, events, ticket, column, rank)


def _neighbour(shown: list[int], ticket_id: int, field: str) -> int:
    if ticket_id not in shown:
        raise ValidationFailed(f"ticket {ticket_id} is not a card of that column", field=field)
    return ticket_id


async def _visible(session: AsyncSession, actor: User, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    found = await session.scalars(select(Ticket.id).where(Ticket.id.in_(ids), ticket_filter(actor)))
    return set(found)


async def _where(
    session: AsyncSession, actor: User, ticket: Ticket, columns: list[BoardColumn]
) -> dict[str, Any]:
    """Where the card is after the move, `position` counting the cards `actor` sees."""
    await session.flush()
    row = await placed_fitting(session, ticket, columns)
    if row is None:
        home = home_column(columns, ticket.status)
        at = home.id if home else None  # None: the board's `Other`
        return {"column_id": at, "column": at, "rank": None, "position": None}
    above = await session.scalars(
        select(TicketPosition.ticket_id)
        .join(Ticket, Ticket.id == TicketPosition.ticket_id)
        .where(
            TicketPosition.column_id == row.column_id,
            Ticket.archived_at.is_(None),
            ticket_filter(actor),
            (TicketPosition.rank < row.rank)
            | ((TicketPosition.rank == row.rank) & (TicketPosition.ticket_id < ticket.id)),
        )
    )
    position = len(list(above))
    return {
        "column_id": row.column_id,
        "column": row.column_id,
        "rank": row.rank,
        "position": position,
    }
