"""Which board column a ticket's card is in, as SQL: the ticket JSON's `column` and the ticket
list's `?column=` filter (S0's `Ticket.column`) read it in the same statement as the ticket,
so a page of tickets costs no statement more whatever its size.

It is desk/board/placement.py's rule, written for the database: the column the card was put
in (its `ticket_positions` row) when that column is on the board of the ticket's queue and
may show it (mapped to the ticket's status or to none); else its home, the first column
mapped to its status, else the first mapped to none; else NULL (the board's own `Other`).
Archived tickets are not on the board: NULL too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import aliased

from desk.models import BoardColumn, Ticket, TicketPosition

_placed = aliased(BoardColumn)
_home = aliased(BoardColumn)


def _may_show(column: Any) -> ColumnElement[bool]:
    """placement.fits: a column mapped to the ticket's status or to none."""
    return or_(column.status.is_(None), column.status == Ticket.status)


# The column the card was put in, when it is on its queue's board and may show it.
_PLACED = (
    select(_placed.id)
    .join(TicketPosition, TicketPosition.column_id == _placed.id)
    .where(
        TicketPosition.ticket_id == Ticket.id,
        _placed.queue_id == Ticket.queue_id,
        _may_show(_placed),
    )
    .scalar_subquery()
)
# placement.home_column: the first column of the status, else the first of none (a column
# of the status sorts before one of none: `status IS NULL` is false for it).
_HOME = (
    select(_home.id)
    .where(_home.queue_id == Ticket.queue_id, _may_show(_home))
    .order_by(_home.status.is_(None), _home.position, _home.id)
    .limit(1)
    .scalar_subquery()
)

CARD_COLUMN: ColumnElement[Any] = case(
    (Ticket.archived_at.is_not(None), None), else_=func.coalesce(_PLACED, _HOME)
)


def card_column() -> ColumnElement[Any]:
    """The column id (or NULL) as a column of a select over `tickets`, named `board_column`."""
    return CARD_COLUMN.label("board_column")


def in_column(column_id: int) -> ColumnElement[bool]:
    """Tickets whose card is in the column: those of the column's queue (an index look-up)
    and, for a column mapped to a status, of that status (no other may show there), each
    checked cheaply before the placement rule runs for it. An unknown column matches
    nothing."""
    column = select(BoardColumn.queue_id, BoardColumn.status).where(BoardColumn.id == column_id)
    queue = column.with_only_columns(BoardColumn.queue_id).scalar_subquery()
    status = column.with_only_columns(BoardColumn.status).scalar_subquery()
    return and_(
        Ticket.queue_id == queue,
        or_(status.is_(None), Ticket.status == status),
        CARD_COLUMN == column_id,
    )
