"""A queue's board columns: made, renamed, mapped to a status, reordered and deleted by the
queue's admins (the `manage` right of desk.auth.access.QUEUE_RIGHTS; site admins too). A new
queue gets desk.board.defaults.DEFAULT_COLUMNS (migration 0020 gave them to the queues
that existed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue
from desk.board.placement import columns_of
from desk.context import Desk, PendingEvent
from desk.db import Database
from desk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, refuse_nulls
from desk.events.board import ColumnCreated, ColumnDeleted, ColumnEvent, ColumnUpdated, ColumnView
from desk.mail.headers import clean_header_text
from desk.models import BoardColumn, TicketPosition, User
from desk.queues.service import get_queue, require_member, require_staff

MAX_COLUMNS = 30


def column_view(column: BoardColumn) -> ColumnView:
    return ColumnView(
        id=column.id,
        queue_id=column.queue_id,
        name=column.name,
        position=column.position,
        status=column.status,
    )


def column_data(column: BoardColumn) -> dict[str, Any]:
    return column_view(column).data()


def _require_manage(actor: User, queue_id: int) -> None:
    require_staff(actor)
    if not may_in_queue(actor, queue_id, "manage"):
        raise PermissionDenied("the board's columns take a queue manage right (queue admins)")


def _name(raw: str) -> str:
    name = clean_header_text(raw, limit=100).strip()
    if not name:
        raise ValidationFailed("a column needs a name", field="name")
    return name


def _status(status: str | None) -> str | None:
    return None if status is None else str(status)  # the value, not the enum member


def _reorder(columns: list[BoardColumn], column: BoardColumn, position: int | None) -> None:
    """`column` at index `position` (None or past the end: last), the others after it
    shifted, positions 0, 1, ... again (a board has a few columns: all are rewritten)."""
    others = [c for c in columns if c is not column]
    at = len(others) if position is None else max(0, min(position, len(others)))
    others.insert(at, column)
    for n, c in enumerate(others):
        c.position = n


async def _announce(
    session: AsyncSession,
    events: list[PendingEvent],
    kind: type[ColumnEvent],
    column: BoardColumn,
    queue_id: int,
) -> None:
    await session.flush()
    columns = await columns_of(session, queue_id)
    events.append(
        kind(
            queue_id=queue_id,
            column=column_view(column),
            columns=tuple(column_view(c) for c in columns),
        )
    )


async def list_columns(db: Database, viewer: User, queue_id: int) -> list[dict[str, Any]]:
    """The queue's columns, left to right (staff members of the queue and site admins;
    others: NotFound, as for the board)."""
    require_staff(viewer)
    async with db.reader() as session:
        await get_queue(session, queue_id)
        require_member(viewer, queue_id)
        return [column_data(c) for c in await columns_of(session, queue_id)]


async def create_column(
    desk: Desk, actor: User, queue_id: int, *, name: str, status: str | None, position: int | None
) -> dict[str, Any]:
    """A new column at `position` (0 = leftmost; None: last)."""
    async with desk.change() as (session, events):
        await get_queue(session, queue_id)
        _require_manage(actor, queue_id)
        columns = await columns_of(session, queue_id)
        if len(columns) >= MAX_COLUMNS:
            raise Conflict(f"a board has at most {MAX_COLUMNS} columns")
        column = BoardColumn(
            queue_id=queue_id, name=_name(name), status=_status(status), position=0
        )
        session.add(column)
        _reorder(columns, column, position)
        await _announce(session, events, ColumnCreated, column, queue_id)
        return column_data(column)


async def update_column(
    desk: Desk, actor: User, queue_id: int, column_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Name, status (null: none) and position. Cards stay where they are: a card put in a
    column keeps it when the column's status changes (the next status change of its ticket
    takes it to its status's column)."""
    refuse_nulls(changes, ("name", "position"))
    async with desk.change() as (session, events):
        column = await _column(session, actor, queue_id, column_id)
        if "name" in changes:
            column.name = _name(changes["name"])
        if "status" in changes:
            column.status = _status(changes["status"])
        if "position" in changes:
            _reorder(await columns_of(session, queue_id), column, changes["position"])
        await _announce(session, events, ColumnUpdated, column, queue_id)
        return column_data(column)


async def delete_column(desk: Desk, actor: User, queue_id: int, column_id: int) -> None:
    """The column goes; the cards put in it go back to the column of their status (as if
    never placed). The last column stays (409): every ticket has a place on the board. So
    does the only column mapped to a status (409): its cards would have no column of their
    status, and drops and new mail would land them elsewhere; map another column to it
    first (or unmap this one on purpose, PATCH status null)."""
    async with desk.change() as (session, events):
        column = await _column(session, actor, queue_id, column_id)
        columns = await columns_of(session, queue_id)
        if len(columns) == 1:
            raise Conflict("a board keeps at least one column; add another first")
        if column.status is not None and not any(
            c is not column and c.status == column.status for c in columns
        ):
            raise Conflict(
                f"column {column.name!r} is the only one for status {column.status}:"
                " map another column to it first",
                field="column",
                column_status=column.status,
            )
        await session.execute(delete(TicketPosition).where(TicketPosition.column_id == column.id))
        await session.delete(column)
        rest = [c for c in columns if c is not column]
        for n, c in enumerate(rest):
            c.position = n
        await session.flush()
        events.append(
            ColumnDeleted(
                queue_id=queue_id,
                column=column_view(column),
                columns=tuple(column_view(c) for c in rest),
            )
        )


async def _column(session: AsyncSession, actor: User, queue_id: int, column_id: int) -> BoardColumn:
    await get_queue(session, queue_id)
    _require_manage(actor, queue_id)
    column = await session.scalar(
        select(BoardColumn).where(BoardColumn.id == column_id, BoardColumn.queue_id == queue_id)
    )
    if column is None:
        raise NotFound(f"no column {column_id} on the board of queue {queue_id}")
    return column
