"""Tickets as a given person may see them: every read path applies desk.auth.access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from desk.auth.access import can_see_ticket, message_filter, ticket_filter
from desk.db import Database
from desk.models import Attachment, Ticket, TicketMessage, User
from desk.tickets.errors import TicketNotFound
from desk.tickets.events import message_data, ticket_data

ORDERINGS = {
    "created_at": Ticket.created_at.asc(),
    "-created_at": Ticket.created_at.desc(),
    "updated_at": Ticket.updated_at.asc(),
    "-updated_at": Ticket.updated_at.desc(),
    "id": Ticket.id.asc(),
    "-id": Ticket.id.desc(),
}


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    priority: str | None = None
    ordering: str = "-updated_at"
    include_archived: bool = False


async def list_tickets(
    db: Database, user: User, f: TicketFilter, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    where = [ticket_filter(user)]
    if f.status:
        where.append(Ticket.status == f.status)
    if f.priority:
        where.append(Ticket.priority == f.priority)
    if not f.include_archived:
        where.append(Ticket.archived_at.is_(None))
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
        rows = await session.scalars(
            select(Ticket)
            .where(*where)
            .order_by(ORDERINGS[f.ordering], Ticket.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return int(count or 0), [ticket_data(t) for t in rows]


async def ticket_detail(db: Database, user: User, ticket_id: int) -> dict[str, Any]:
    """The ticket with the messages and attachments `user` may see; 404 for the rest, so
    a customer cannot even learn that someone else's ticket exists."""
    async with db.reader() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or not can_see_ticket(user, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        messages = list(
            await session.scalars(
                select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket_id, message_filter(user))
                .order_by(TicketMessage.id)
            )
        )
        attachments = await session.scalars(
            select(Attachment).where(Attachment.ticket_message_id.in_([m.id for m in messages]))
        )
        by_message: dict[int, list[dict[str, Any]]] = {}
        for a in attachments:
            by_message.setdefault(a.ticket_message_id, []).append(_attachment(a))
    detail = ticket_data(ticket)
    detail["messages"] = [
        {**message_data(m), "attachments": by_message.get(m.id, [])} for m in messages
    ]
    return detail


def _attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "is_inline": a.is_inline,
        "content_id": a.content_id,
    }


async def user_by_email(db: Database, email: str) -> User | None:
    async with db.reader() as session:
        return await session.scalar(select(User).where(User.email == email.strip().lower()))
