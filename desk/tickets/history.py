"""A ticket's history: who changed what, from what, to what, and when. Written by the
workflow in the same transaction as the change, so history and state never disagree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.models import Ticket, TicketChange, User

# What a customer may read of the history: the fields they can see on the ticket itself.
PUBLIC_FIELDS = ("status", "subject", "priority")


def record(
    session: AsyncSession,
    ticket: Ticket,
    actor: User | int | None,
    field: str,
    old: object,
    new: object,
) -> None:
    session.add(
        TicketChange(
            ticket_id=ticket.id,
            actor_id=actor.id if isinstance(actor, User) else actor,
            field=field,
            old_value=_text(old),
            new_value=_text(new),
        )
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | set):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


async def changes(session: AsyncSession, ticket_id: int, viewer: User) -> list[dict[str, Any]]:
    query = select(TicketChange).where(TicketChange.ticket_id == ticket_id)
    if not viewer.is_staff:
        query = query.where(TicketChange.field.in_(PUBLIC_FIELDS))
    rows = await session.scalars(query.order_by(TicketChange.id))
    return [
        {
            "id": c.id,
            "field": c.field,
            "from": c.old_value,
            "to": c.new_value,
            "actor_id": c.actor_id,
            "at": c.created_at.isoformat(),
        }
        for c in rows
    ]
