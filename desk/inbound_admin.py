"""Stored inbound mail as an admin reads it, for `postdesk inbound show` and the admin API
alike: the envelope, the headers as written, the raw source, the reason it failed, and what
it became (the ticket message, its attachments, the threading rule that placed it).

"Damaged" mail was processed but not cleanly: it could not be read (its raw form became
the attachment; `error` says why) or one of its attachments did not decode."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from desk.db import Database
from desk.errors import Conflict, ValidationFailed
from desk.intake import inbound_mail, retry
from desk.models import Attachment, InboundMail, InboundState, TicketMessage

# The source is sent whole up to this size; a larger mail is cut (its size is given).
SOURCE_LIMIT = 1024 * 1024
DAMAGED = "damaged"
LISTED = (*(s.value for s in InboundState), DAMAGED)


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """The header fields as written (compat32 reads without decoding or raising)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [(name, str(value)) for name, value in message.items()]


def _with_damaged_part() -> ColumnElement[bool]:
    """Mail one of whose attachments is damaged: one uncorrelated subquery over the few
    damaged attachments, not a look-up per listed mail."""
    damaged = (
        select(TicketMessage.inbound_id)
        .join(Attachment, Attachment.ticket_message_id == TicketMessage.id)
        .where(Attachment.damaged.is_(True), TicketMessage.inbound_id.is_not(None))
    )
    return InboundMail.id.in_(damaged)


def _first_damage() -> ColumnElement[str | None]:
    """What the first damaged attachment of the mail says (a truncated base64, say), for
    the list's reason column; NULL when no part is damaged. Correlated, but only for the
    page's rows."""
    return (
        select(Attachment.damage_reason)
        .join(TicketMessage, Attachment.ticket_message_id == TicketMessage.id)
        .where(TicketMessage.inbound_id == InboundMail.id, Attachment.damaged.is_(True))
        .order_by(Attachment.id)
        .limit(1)
        .scalar_subquery()
    )


def _damaged() -> ColumnElement[bool]:
    processed = InboundMail.state == InboundState.PROCESSED.value
    return and_(processed, or_(InboundMail.error.is_not(None), _with_damaged_part()))


@dataclass(frozen=True)
class InboundPage:
    count: int
    results: list[dict[str, Any]]


async def list_for_admin(
    db: Database, state: str | None, *, offset: int, limit: int
) -> InboundPage:
    """Every stored mail, failed first, then damaged, then the rest; newest first within
    each. `state`: one of LISTED (None or "all": every mail). Raw bytes are not loaded."""
    if state not in (None, "all", *LISTED):
        raise ValidationFailed(f"state is one of {', '.join(LISTED)} or all", field="state")
    damaged = _damaged()
    where: list[ColumnElement[bool]] = []
    if state == DAMAGED:
        where.append(damaged)
    elif state not in (None, "all"):
        where.append(InboundMail.state == state)
    rank = case((InboundMail.state == InboundState.FAILED.value, 0), (damaged, 1), else_=2)
    query = (
        select(InboundMail, damaged, _first_damage())
        .options(defer(InboundMail.raw))
        .where(*where)
        .order_by(rank, InboundMail.id.desc())
        .offset(offset)
        .limit(limit)
    )
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(InboundMail).where(*where))
        rows = (await session.execute(query)).all()
    results = [summary(row, bool(hurt), why) for row, hurt, why in rows]
    return InboundPage(int(count or 0), results)


def summary(row: InboundMail, damaged: bool, damage: str | None = None) -> dict[str, Any]:
    """One mail in a list: no headers, no source. `damage_reason`: what its first damaged
    attachment says (null when none is)."""
    return {
        "id": row.id,
        "state": row.state,
        "damaged": damaged,
        "damage_reason": damage or None,
        "error": row.error,
        "ticket_id": row.ticket_id,
        "thread_rule": row.thread_rule,
        "message_id": row.message_id,
        "sender": row.sender or row.mail_from or None,
        "source": row.source,
        "received_at": _time(row.received_at),
        "processed_at": _time(row.processed_at),
        "attempts": row.attempts,
    }


def inbound_record(row: InboundMail) -> dict[str, Any]:
    """The stored mail's envelope, its processing and its headers (not its body): what
    `inbound show --json` prints."""
    return {
        "id": row.id,
        "state": row.state,
        "error": row.error,
        "ticket_id": row.ticket_id,
        "thread_rule": row.thread_rule,
        "message_id": row.message_id,
        "sender": row.sender,
        "source": row.source,
        "mail_from": row.mail_from,
        "rcpt_tos": list(row.rcpt_tos),
        "size": len(row.raw),
        "received_at": _time(row.received_at),
        "processed_at": _time(row.processed_at),
        "attempts": row.attempts,
        "headers": [[name, value] for name, value in header_lines(row.raw)],
    }


async def inbound_detail(db: Database, mail_id: int) -> dict[str, Any]:
    """inbound_record with what the mail became (`messages`: each with its attachments and
    their damage), `damaged`, and the raw source as text (`source_text`, cut at
    SOURCE_LIMIT: `source_truncated`; bytes that are not UTF-8 show as U+FFFD).
    NotFound if there is no such mail."""
    row = await inbound_mail(db, mail_id)
    record = inbound_record(row)
    async with db.reader() as session:
        record["messages"] = await _made(session, row)
    damaged_parts = any(a["damaged"] for m in record["messages"] for a in m["attachments"])
    processed = row.state == InboundState.PROCESSED.value
    record["damaged"] = processed and (row.error is not None or damaged_parts)
    record["raw_removed_at"] = _time(row.raw_removed_at)
    record["source_text"] = row.raw[:SOURCE_LIMIT].decode("utf-8", "replace")
    record["source_truncated"] = len(row.raw) > SOURCE_LIMIT
    return record


async def _made(session: AsyncSession, row: InboundMail) -> list[dict[str, Any]]:
    """The ticket messages the mail became (found through its ticket: that is indexed)."""
    if row.ticket_id is None:
        return []
    messages = list(
        await session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == row.ticket_id, TicketMessage.inbound_id == row.id)
            .order_by(TicketMessage.id)
        )
    )
    parts = await session.scalars(
        select(Attachment)
        .where(Attachment.ticket_message_id.in_([m.id for m in messages]))
        .order_by(Attachment.id)
    )
    by_message: dict[int, list[dict[str, Any]]] = {m.id: [] for m in messages}
    for part in parts:
        by_message[part.ticket_message_id].append(
            {
                "id": part.id,
                "filename": part.filename,
                "content_type": part.content_type,
                "size": part.size,
                "damaged": part.damaged,
                "damage_reason": part.damage_reason,
            }
        )
    return [_message(m, by_message[m.id]) for m in messages]


def _message(m: TicketMessage, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": m.id,
        "ticket_id": m.ticket_id,
        "kind": m.kind,
        "sender_email": m.sender_email,
        "subject": m.subject,
        "text": m.body_text,
        "new_text": m.body_new,
        "is_automatic": m.is_automatic,
        "thread_rule": m.thread_rule,
        "created_at": _time(m.created_at),
        "attachments": attachments,
    }


async def retry_one(db: Database, mail_id: int) -> int:
    """Queue one mail for processing again (1). NotFound if there is none; Conflict if it
    was processed (it is a ticket message already: processing it again would change
    nothing)."""
    row = await inbound_mail(db, mail_id)
    if row.state == InboundState.PROCESSED.value:
        raise Conflict("this mail was processed already", id=mail_id, state=row.state)
    return await retry(db, [mail_id])


async def retry_failed(db: Database) -> int:
    """Queue every failed mail for processing again; how many."""
    return await retry(db, None)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
