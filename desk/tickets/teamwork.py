"""Working as a team on one ticket: who answered while I was writing (the composer's
warning before sending) and which merges into a ticket can still be undone (its page's
"Undo merge"). Reads only; the merge itself is desk.tickets.merge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from desk.auth.access import can_see_ticket
from desk.db import Database
from desk.models import MessageKind, Ticket, TicketMerge, TicketMessage, User, utcnow
from desk.tickets.errors import TicketNotFound
from desk.tickets.merge import UNDO_SECONDS

# What counts as "someone else wrote": a person's public answer or internal note, and the
# customer's own message (mail or portal). An automatic mail or a bounce does not.
ANSWERS = (MessageKind.OUTBOUND.value, MessageKind.NOTE.value, MessageKind.INBOUND.value)


async def answered_since(
    db: Database, user: User, ticket_id: int, seen: int
) -> list[dict[str, Any]]:
    """Messages by other people on the ticket with an id above `seen` (the newest message
    the agent's page showed): colleagues' replies and notes and the customer's messages,
    [{"id", "author_id", "author", "kind"}], oldest first. 404 (TicketNotFound) for a
    ticket the agent may not see."""
    async with db.reader() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or not can_see_ticket(user, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        found = await session.execute(
            select(
                TicketMessage.id,
                TicketMessage.author_id,
                TicketMessage.kind,
                TicketMessage.sender_email,
                User.name,
                User.email,
            )
            .outerjoin(User, User.id == TicketMessage.author_id)
            .where(
                TicketMessage.ticket_id == ticket_id,
                TicketMessage.id > seen,
                or_(TicketMessage.author_id.is_(None), TicketMessage.author_id != user.id),
                TicketMessage.kind.in_(ANSWERS),
                TicketMessage.is_automatic.is_(False),
            )
            .order_by(TicketMessage.id)
        )
        return [
            {"id": mid, "author_id": aid, "author": name or email or sender, "kind": kind}
            for mid, aid, kind, sender, name, email in found
        ]


async def undoable_merges(db: Database, target_id: int) -> list[dict[str, Any]]:
    """Merges into `target_id` still inside the undo window: [{"merge_id", "source_id",
    "undo_until"}], newest first. The caller has already read the target (its access
    check); the undo itself checks again."""
    since: datetime = utcnow() - timedelta(seconds=UNDO_SECONDS)
    async with db.reader() as session:
        found = await session.scalars(
            select(TicketMerge)
            .where(
                TicketMerge.target_id == target_id,
                TicketMerge.undone_at.is_(None),
                TicketMerge.created_at > since,
            )
            .order_by(TicketMerge.id.desc())
        )
        return [
            {
                "merge_id": m.id,
                "source_id": m.source_id,
                "undo_until": m.created_at + timedelta(seconds=UNDO_SECONDS),
            }
            for m in found
        ]
