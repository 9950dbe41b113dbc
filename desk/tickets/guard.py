"""The one guard of every write on a ticket: status, assignee, fields, tags, messages,
time, queue moves, board drops and archiving all pass through `require_writable`.

An archived ticket takes no change until it is unarchived (409); a merged ticket (the
source of a merge not undone, desk/tickets/merge.py) takes none either, during the undo
window too (409, `details.reason` "merged", `details.into` the target): its conversation
moved to the target, so a change here would be read by nobody, and undoing the merge would
carry it back as if it had been merged. Undoing the merge itself does not pass here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.errors import Conflict
from desk.models import Ticket, TicketMerge


def require_live(ticket: Ticket) -> None:
    """409 for an archived ticket."""
    if ticket.archived_at is not None:
        raise Conflict(f"ticket {ticket.id} is archived; unarchive it first")


async def require_unmerged(session: AsyncSession, ticket_id: int) -> None:
    """409 `merged` (with `into`) for a ticket merged into another now."""
    into = await session.scalar(
        select(TicketMerge.target_id)
        .where(TicketMerge.source_id == ticket_id, TicketMerge.undone_at.is_(None))
        .order_by(TicketMerge.id.desc())
        .limit(1)
    )
    if into is not None:
        raise Conflict(
            f"this ticket was merged into #{into}; write there", reason="merged", into=into
        )


async def require_writable(session: AsyncSession, ticket: Ticket) -> None:
    """Neither archived nor merged (409 either way)."""
    require_live(ticket)
    await require_unmerged(session, ticket.id)
