"""Where a card sits, and how a move finds its rank without renumbering the column.

A ticket's card is on its queue's board in one column: the column it was put in (its
`ticket_positions` row, if that column is on its queue's board and mapped to its status or to
none), else its *home*: the first column mapped to its status, else the first column mapped
to none, else none at all (the board shows such a card in a column "Other" of its own:
a card never shows in a column that stands for another status). Placed cards come first by
rank; cards never placed follow, oldest ticket first.

Ranks are gapped integers (GAP apart when laid out): a move sets one rank between its
neighbours' (their midpoint), so only the moved row is written. When two neighbours are 1
apart the column is laid out again (every card GAP apart) before the move; with GAP 1024
that takes about ten moves into the very same slot.

Used by the workflow (a status change puts the card in its status's column), by queue moves
(a card leaves one board for another) and by desk.board.cards."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import PendingEvent
from desk.events.board import CardMoved
from desk.models import BoardColumn, Status, Ticket, TicketPosition
from desk.tickets.events import ticket_view

GAP = 1024


async def columns_of(session: AsyncSession, queue_id: int) -> list[BoardColumn]:
    """The queue's columns, left to right."""
    rows = await session.scalars(
        select(BoardColumn)
        .where(BoardColumn.queue_id == queue_id)
        .order_by(BoardColumn.position, BoardColumn.id)
    )
    return list(rows)


def home_column(columns: Sequence[BoardColumn], status: str) -> BoardColumn | None:
    """Where a card of `status` goes when nobody put it anywhere (None: no column stands
    for its status or for none; never a column mapped to another status)."""
    for column in columns:
        if column.status == status:
            return column
    for column in columns:
        if column.status is None:
            return column
    return None


def fits(column: BoardColumn, status: str) -> bool:
    """Whether a card of `status` may show in `column`: one mapped to it or to none."""
    return column.status is None or column.status == status


async def placement_of(
    session: AsyncSession, ticket_id: int, columns: Sequence[BoardColumn]
) -> TicketPosition | None:
    """The ticket's row if it names a column of `columns` (a row left from another queue's
    board does not count)."""
    row = await session.get(TicketPosition, ticket_id)
    if row is None or row.column_id not in {c.id for c in columns}:
        return None
    return row


async def placed_fitting(
    session: AsyncSession, ticket: Ticket, columns: Sequence[BoardColumn]
) -> TicketPosition | None:
    """The ticket's row (placement_of) if its column may show the card (`fits`)."""
    row = await placement_of(session, ticket.id, columns)
    if row is None or not fits(next(c for c in columns if c.id == row.column_id), ticket.status):
        return None
    return row


def card_moved(ticket: Ticket, queue_id: int, column_id: int | None, rank: int | None) -> CardMoved:
    return CardMoved(ticket=ticket_view(ticket), queue_id=queue_id, column_id=column_id, rank=rank)


async def put(
    session: AsyncSession,
    events: list[PendingEvent],
    ticket: Ticket,
    column: BoardColumn,
    rank: int,
) -> None:
    """Place the card at `rank` in `column` and tell the board."""
    row = await session.get(TicketPosition, ticket.id)
    if row is None:
        session.add(TicketPosition(ticket_id=ticket.id, column_id=column.id, rank=rank))
    else:
        row.column_id, row.rank = column.id, rank
    events.append(partial(card_moved, ticket, column.queue_id, column.id, rank))


async def end_rank(session: AsyncSession, column_id: int) -> int:
    """A rank after every placed card of the column."""
    last = await session.scalar(
        select(func.max(TicketPosition.rank)).where(TicketPosition.column_id == column_id)
    )
    return GAP if last is None else int(last) + GAP


async def follow_status(
    session: AsyncSession, events: list[PendingEvent], ticket: Ticket, old_status: str
) -> None:
    """After a status change: a card in a column mapped to another status, or with a column
    mapped to its new status, goes to the end of its new home; a card in a column mapped to
    no status stays there when no column is mapped to the new one."""
    columns = await columns_of(session, ticket.queue_id)
    home = home_column(columns, ticket.status)
    if home is None:
        return
    row = await placement_of(session, ticket.id, columns)
    if row is None:  # never placed: it sits in its home, which may have changed
        if home is not home_column(columns, old_status):
            events.append(partial(card_moved, ticket, ticket.queue_id, home.id, None))
        return
    current = next(c for c in columns if c.id == row.column_id)
    if current.status == ticket.status:
        return
    if current.status is None and home.status != ticket.status:
        return
    await put(session, events, ticket, home, await end_rank(session, home.id))


async def leave_board(
    session: AsyncSession, events: list[PendingEvent], ticket: Ticket, old_queue_id: int
) -> None:
    """The ticket moved to another queue: its card leaves the old board for the home column
    of its status on the new one (unplaced there)."""
    await session.execute(delete(TicketPosition).where(TicketPosition.ticket_id == ticket.id))
    events.append(partial(card_moved, ticket, old_queue_id, None, None))
    home = home_column(await columns_of(session, ticket.queue_id), ticket.status)
    if home is not None:
        events.append(partial(card_moved, ticket, ticket.queue_id, home.id, None))


async def column_order(
    session: AsyncSession, column: BoardColumn, columns: Sequence[BoardColumn]
) -> list[tuple[int, int]]:
    """Every live card of the column as (ticket id, rank), in board order; cards that sat
    here unplaced are placed first, at the end in their order (each ticket once: a placed
    card keeps its row until it moves)."""
    homed = [s.value for s in Status if home_column(columns, s.value) is column]
    by_id = {c.id: c for c in columns}
    candidates = await session.execute(
        select(Ticket.id, Ticket.status, TicketPosition.column_id)
        .outerjoin(TicketPosition, TicketPosition.ticket_id == Ticket.id)
        .where(
            Ticket.queue_id == column.queue_id,
            Ticket.archived_at.is_(None),
            Ticket.status.in_(homed),
        )
        .order_by(Ticket.id)
    )
    # Unplaced: no row on this board, or one in a column that may not show the card.
    unplaced = [
        int(t) for t, status, at in candidates if at not in by_id or not fits(by_id[at], status)
    ]
    if unplaced:
        await session.execute(
            delete(TicketPosition).where(TicketPosition.ticket_id.in_(unplaced))
        )  # rows left from another queue's board
        start = await end_rank(session, column.id)
        session.add_all(
            TicketPosition(ticket_id=t, column_id=column.id, rank=start + n * GAP)
            for n, t in enumerate(unplaced)
        )
        await session.flush()
    rows = await session.execute(
        select(TicketPosition.ticket_id, TicketPosition.rank)
        .join(Ticket, Ticket.id == TicketPosition.ticket_id)
        .where(
            TicketPosition.column_id == column.id,
            Ticket.archived_at.is_(None),
            Ticket.queue_id == column.queue_id,
            *([] if column.status is None else [Ticket.status == column.status]),
        )
        .order_by(TicketPosition.rank, TicketPosition.ticket_id)
    )
    return [(int(t), int(r)) for t, r in rows]


async def rank_between(
    session: AsyncSession,
    column_id: int,
    order: list[tuple[int, int]],
    prev_id: int | None,
    next_id: int | None,
) -> int:
    """A rank after `prev_id` and before `next_id` (ticket ids in `order`, the column
    without the moved card; None: the start or the end). Lays the column out again, GAP
    apart, only when the two are too close for a rank in between."""
    ranks = dict(order)
    low = ranks[prev_id] if prev_id is not None else None
    high = ranks[next_id] if next_id is not None else None
    if low is None and high is None:
        return GAP
    if low is None:
        assert high is not None
        return high - GAP
    if high is None:
        return low + GAP
    if high - low > 1:
        return (low + high) // 2
    await respace(session, column_id, [t for t, _ in order])
    ranks = {t: (n + 1) * GAP for n, (t, _) in enumerate(order)}
    return (ranks[prev_id] + ranks[next_id]) // 2  # type: ignore[index]


async def respace(session: AsyncSession, column_id: int, ticket_ids: list[int]) -> None:
    """Every card of the column GAP apart again, in the order given."""
    rows = {
        r.ticket_id: r
        for r in await session.scalars(
            select(TicketPosition).where(TicketPosition.column_id == column_id)
        )
    }
    for n, ticket_id in enumerate(ticket_ids):
        rows[ticket_id].rank = (n + 1) * GAP
