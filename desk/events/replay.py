"""What a reconnecting client missed: a ticket's stored events after the last one it saw,
read back into their kinds from the events table."""

from __future__ import annotations

import logging

from sqlalchemy import select

from desk.db import Database
from desk.events.tickets import TicketEvent
from desk.events.types import UnknownEvent, from_parts
from desk.models import EventRecord

log = logging.getLogger(__name__)
RESUME_LIMIT = 1000


async def missed(
    db: Database, ticket_id: int, after: int, limit: int = RESUME_LIMIT
) -> list[TicketEvent]:
    """Oldest first, at most `limit`. A ticket's events are stored under its row lock, so
    ids grow in commit order and nothing committed later can appear before `after`."""
    async with db.reader() as session:
        rows = await session.scalars(
            select(EventRecord)
            .where(EventRecord.ticket_id == ticket_id, EventRecord.id > after)
            .order_by(EventRecord.id)
            .limit(limit)
        )
        return [event for row in rows if (event := _read(row)) is not None]


def _read(row: EventRecord) -> TicketEvent | None:
    try:
        event = from_parts(row.type, row.data, id=str(row.id), at=row.created_at)
    except (UnknownEvent, KeyError, TypeError, ValueError) as exc:
        log.warning("stored event %s (%s) not readable, skipped: %s", row.id, row.type, exc)
        return None
    return event if isinstance(event, TicketEvent) else None
