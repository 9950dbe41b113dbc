"""What chat events and answers carry: a message with its reactions and the tickets it names
(`#123`), and the view of it one reader may see."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket_fields
from desk.events.chat import ChatFile, ChatMessageView, ChatUser, Reaction, TicketRef
from desk.models import ChatMessage, ChatParticipant, ChatReaction, Ticket, User

TICKET_REF = re.compile(r"(?<![\w&])#(\d{1,9})\b")
MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,64})")


async def participant_ids(session: AsyncSession, room_id: int) -> tuple[int, ...]:
    rows = await session.scalars(
        select(ChatParticipant.user_id)
        .where(ChatParticipant.room_id == room_id)
        .order_by(ChatParticipant.user_id)
    )
    return tuple(rows)


async def chat_users(session: AsyncSession, ids: set[int]) -> dict[int, ChatUser]:
    """Names and emails of the people with `ids` (authors, reactors, joiners)."""
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {i: ChatUser(id=i, name=name, email=email) for i, name, email in rows.all()}


async def message_views(session: AsyncSession, rows: list[ChatMessage]) -> list[ChatMessageView]:
    """The messages as answers and events carry them, in four queries whatever their
    number: reactions, named tickets, authors."""
    reactions = await reactions_of(session, [m.id for m in rows])
    refs = await ticket_refs(session, [m.body for m in rows])
    authors = await chat_users(session, {m.author_id for m in rows})
    return [
        message_view(m, reactions.get(m.id, []), refs_in(m.body, refs), authors.get(m.author_id))
        for m in rows
    ]


def message_view(
    m: ChatMessage,
    reactions: list[Reaction],
    refs: list[TicketRef],
    author: ChatUser | None = None,
) -> ChatMessageView:
    """The message with `ticket_refs`: what `#123` names, with the fields access needs;
    for_reader() turns them into what one reader may see. Without `author`, the author is
    known by id only."""
    return ChatMessageView(
        id=m.id,
        room_id=m.room_id,
        author_id=m.author_id,
        kind=m.kind,
        body=m.body,
        is_edited=m.is_edited,
        edited_at=m.edited_at,
        created_at=m.created_at,
        file=None
        if m.file_sha256 is None
        else ChatFile(
            name=m.file_name,
            content_type=m.file_type,
            size=m.file_size,
            url=f"/api/chat/messages/{m.id}/file/",
        ),
        reactions=tuple(reactions),
        ticket_refs=tuple(refs),
        author=author or ChatUser(id=m.author_id),
    )


def for_reader(message: ChatMessageView, reader: User) -> dict[str, Any]:
    """The message as `reader` sees it: previews of the tickets they may open, nothing
    about the others (not even that they exist)."""
    out = message.shared_data()
    out["tickets"] = [
        {
            "id": t.id,
            "subject": t.subject,
            "status": t.status,
            "assigned_agent_id": t.assigned_agent_id,
        }
        for t in message.ticket_refs
        if can_see_ticket_fields(
            reader, t.customer_id, t.assigned_agent_id, t.company_id, t.queue_id
        )
    ]
    return out


async def ticket_refs(session: AsyncSession, bodies: list[str]) -> dict[int, TicketRef]:
    ids = {int(n) for body in bodies for n in TICKET_REF.findall(body)}
    if not ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
    return {
        t.id: TicketRef(
            id=t.id,
            subject=t.subject,
            status=str(t.status),
            assigned_agent_id=t.assigned_agent_id,
            customer_id=t.customer_id,
            company_id=t.company_id,
            queue_id=t.queue_id,
        )
        for t in rows
    }


def refs_in(body: str, known: dict[int, TicketRef]) -> list[TicketRef]:
    seen = dict.fromkeys(int(n) for n in TICKET_REF.findall(body))
    return [known[i] for i in seen if i in known]


async def reactions_of(session: AsyncSession, ids: list[int]) -> dict[int, list[Reaction]]:
    found: dict[int, list[Reaction]] = {}
    if not ids:
        return found
    rows = await session.execute(
        select(ChatReaction, User.name, User.email)
        .join(User, User.id == ChatReaction.user_id)
        .where(ChatReaction.message_id.in_(ids))
        .order_by(ChatReaction.created_at, ChatReaction.user_id)
    )
    for r, name, email in rows.all():
        found.setdefault(r.message_id, []).append(
            Reaction(
                emoji=r.emoji, user_id=r.user_id, name=name, email=email, created_at=r.created_at
            )
        )
    return found
