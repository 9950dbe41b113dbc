"""The columns a new queue's board starts with (S0 makes its defaults on a new project)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from desk.models import BoardColumn, Status

# One column per status, in the workflow's order: every ticket has a column it belongs in,
# and dragging a card across is a status change. Migration 0020 repeats this list for the
# queues that existed.
DEFAULT_COLUMNS = (
    ("Open", Status.OPEN),
    ("Assigned", Status.ASSIGNED),
    ("In progress", Status.IN_PROGRESS),
    ("Waiting on customer", Status.WAITING_ON_CUSTOMER),
    ("Resolved", Status.RESOLVED),
    ("Closed", Status.CLOSED),
)


def add_default_columns(session: AsyncSession, queue_id: int) -> None:
    session.add_all(
        BoardColumn(queue_id=queue_id, name=name, position=n, status=status.value)
        for n, (name, status) in enumerate(DEFAULT_COLUMNS)
    )
