"""Chat events: every one names its room and the room's participants, so the hub can check
membership per event without asking the database."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket_fields
from desk.events import Event
from desk.models import ChatMessage, ChatParticipant, ChatReaction, Ticket, User

PREFIX = "chat."
TICKET_REF = re.compile(r"(?<![\w&])#(\d{1,9})\b")
MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,64})")


def chat_event(kind: str, room_id: int, participants: list[int], **data: Any) -> Event:
    return Event(
        type=PREFIX + kind, data={"room_id": room_id, "participant_ids": participants, **data}
    )


async def participant_ids(session: AsyncSession, room_id: int) -> list[int]:
    rows = await session.scalars(
        select(ChatParticipant.user_id)
        .where(ChatParticipant.room_id == room_id)
        .order_by(ChatParticipant.user_id)
    )
    return list(rows)


def message_data(
    m: ChatMessage, reactions: list[dict[str, Any]], refs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The message with `ticket_refs`: what `#123` names, with the fields access needs;
    previews_for() turns them into what one reader may see."""
    return {
        "id": m.id,
        "room_id": m.room_id,
        "author_id": m.author_id,
        "kind": m.kind,
        "body": m.body,
        "is_edited": m.is_edited,
        "edited_at": m.edited_at.isoformat() if m.edited_at else None,
        "created_at": m.created_at.isoformat(),
        "file": None
        if m.file_sha256 is None
        else {
            "name": m.file_name,
            "content_type": m.file_type,
            "size": m.file_size,
            "url": f"/api/chat/messages/{m.id}/file/",
        },
        "reactions": reactions,
        "ticket_refs": refs,
    }


def for_reader(message: dict[str, Any], reader: User) -> dict[str, Any]:
    """The message as `reader` sees it: previews of the tickets they may open, nothing
    about the others (not even that they exist)."""
    out = {k: v for k, v in message.items() if k != "ticket_refs"}
    out["tickets"] = [
        {k: t[k] for k in ("id", "subject", "status", "assigned_agent_id")}
        for t in message.get("ticket_refs", [])
        if can_see_ticket_fields(reader, t["customer_id"], t["assigned_agent_id"], t["company_id"])
    ]
    return out


async def ticket_refs(session: AsyncSession, bodies: list[str]) -> dict[int, dict[str, Any]]:
    ids = {int(n) for body in bodies for n in TICKET_REF.findall(body)}
    if not ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
    return {
        t.id: {
            "id": t.id,
            "subject": t.subject,
            "status": t.status,
            "assigned_agent_id": t.assigned_agent_id,
            "customer_id": t.customer_id,
            "company_id": t.company_id,
        }
        for t in rows
    }


def refs_in(body: str, known: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    seen = dict.fromkeys(int(n) for n in TICKET_REF.findall(body))
    return [known[i] for i in seen if i in known]


async def reactions_of(session: AsyncSession, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    rows = await session.scalars(
        select(ChatReaction)
        .where(ChatReaction.message_id.in_(ids))
        .order_by(ChatReaction.created_at, ChatReaction.user_id)
    )
    for r in rows:
        found.setdefault(r.message_id, []).append({"emoji": r.emoji, "user_id": r.user_id})
    return found
