"""Where a ticket's conversation stands, so every mail we send threads into it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.models import KnownMessageId, MessageKind, TicketMessage


@dataclass(frozen=True)
class Thread:
    in_reply_to: str | None
    references: list[str]


async def conversation(session: AsyncSession, ticket_id: int) -> Thread:
    """In-Reply-To names the customer's latest own mail (not an automatic one); References
    the whole conversation."""
    ids = list(
        await session.scalars(
            select(KnownMessageId.message_id)
            .where(KnownMessageId.ticket_id == ticket_id)
            .order_by(KnownMessageId.created_at, KnownMessageId.message_id)
        )
    )
    latest_inbound = await session.scalar(
        select(TicketMessage.message_id)
        .where(
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.kind == MessageKind.INBOUND,
            TicketMessage.is_automatic.is_(False),  # never answer an out-of-office reply
            TicketMessage.message_id.is_not(None),
        )
        .order_by(TicketMessage.id.desc())
        .limit(1)
    )
    return Thread(in_reply_to=latest_inbound or (ids[-1] if ids else None), references=ids)
