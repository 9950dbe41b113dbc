"""The suppression list: an address whose mail bounced permanently (or that the relay
refused for good when we sent: `suppress_refused`) gets no automatic mail
(acknowledgements, notifications; desk/tickets/notify.py) until it expires
(POSTDESK_SUPPRESSION_DAYS, 0 = never) or an admin lifts it. Agent replies still go out,
and their API answer warns the agent (`reply_warnings`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from desk.db import Database
from desk.errors import NotFound
from desk.mail.bounces import Failure
from desk.models import MessageKind, OutboxMail, Suppression, TicketMessage, utcnow


def _in_force() -> ColumnElement[bool]:
    return or_(Suppression.expires_at.is_(None), Suppression.expires_at > utcnow())


async def in_force(session: AsyncSession, addresses: Iterable[str]) -> dict[str, Suppression]:
    """The suppressions in force now for `addresses` (lower-case), by address."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Suppression).where(Suppression.address.in_(wanted), _in_force())
    )
    return {row.address: row for row in rows}


async def any_for(session: AsyncSession, addresses: Iterable[str]) -> dict[str, Suppression]:
    """Every row for `addresses`, expired ones included (a new bounce renews its row)."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    rows = await session.scalars(select(Suppression).where(Suppression.address.in_(wanted)))
    return {row.address: row for row in rows}


def failure_text(failure: Failure) -> str:
    """`5.1.1 user unknown`: the status and the receiving server's words; the server's
    words alone when they say the status already (`550 5.1.1 <a@b>: user unknown`, not
    `5.1.1 550 5.1.1 ...`)."""
    said = failure.diagnostic.split()
    status = "" if failure.status in said else failure.status
    words = " ".join(w for w in (status, failure.diagnostic) if w)
    return words or "permanent delivery failure"


def suppress(
    session: AsyncSession,
    known: dict[str, Suppression],
    failure: Failure,
    *,
    days: int,
    ticket_id: int | None,
    outbox_id: int | None,
    inbound_id: int | None,
) -> Suppression:
    """Put `failure.address` on the list, or renew its row in `known` (the batch's rows by
    address; the new row is added to it). Expires after `days`, never when 0."""
    now = utcnow()
    row = known.get(failure.address)
    if row is None:
        row = Suppression(address=failure.address)
        session.add(row)
        known[failure.address] = row
    row.reason = failure_text(failure)[:2000]
    row.ticket_id, row.outbox_id, row.inbound_id = ticket_id, outbox_id, inbound_id
    row.created_at = now
    row.expires_at = now + timedelta(days=days) if days > 0 else None
    return row


async def suppress_refused(
    db: Database, outbox_id: int, refused: dict[str, str], *, days: int
) -> None:
    """The recipients of outbox row `outbox_id` the relay refused for good at RCPT (a 5xx
    for that address), each with the relay's answer ("550 5.1.1 no such user"): on the
    list as a bounce puts them, with the same expiry (`days`)."""
    if not refused:
        return
    async with db.writer() as session:
        ticket_id = await session.scalar(
            select(OutboxMail.ticket_id).where(OutboxMail.id == outbox_id)
        )
        known = await any_for(session, refused)
        for address, answer in refused.items():
            failure = Failure(address.lower(), status="", diagnostic=answer, permanent=True)
            suppress(
                session,
                known,
                failure,
                days=days,
                ticket_id=ticket_id,
                outbox_id=outbox_id,
                inbound_id=None,
            )


def suppression_data(row: Suppression) -> dict[str, Any]:
    return {
        "id": row.id,
        "address": row.address,
        "reason": row.reason,
        "ticket_id": row.ticket_id,
        "outbox_id": row.outbox_id,
        "inbound_id": row.inbound_id,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
    }


async def list_suppressions(
    db: Database, *, address: str | None, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Suppressions in force, newest first; `address` narrows to addresses containing it."""
    where = [_in_force()]
    if address:
        where.append(Suppression.address.contains(address.strip().lower(), autoescape=True))
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(Suppression).where(*where))
        rows = await session.scalars(
            select(Suppression)
            .where(*where)
            .order_by(Suppression.created_at.desc(), Suppression.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return int(count or 0), [suppression_data(r) for r in rows]


async def lift(db: Database, suppression_id: int) -> str:
    """Take a suppression off the list (an admin's decision); returns its address."""
    async with db.writer() as session:
        address = await session.scalar(
            delete(Suppression)
            .where(Suppression.id == suppression_id)
            .returning(Suppression.address)
        )
    if address is None:
        raise NotFound(f"no suppression {suppression_id}")
    return str(address)


def _also_addressed(spec: dict[str, Any]) -> list[str]:
    """The addresses a queued mail goes to beside its first recipient: its other To and its
    Cc (desk.mail.compose.Outgoing as stored: each a [name, address] pair)."""
    return [str(pair[1]) for key in ("also_to", "cc") for pair in spec.get(key) or ()]


async def reply_warnings(db: Database, message: TicketMessage) -> list[dict[str, Any]]:
    """What the agent who wrote `message` should know: each recipient of its mail that is
    suppressed (the mail goes out all the same, and will likely bounce again)."""
    if message.kind != MessageKind.OUTBOUND or not message.message_id:
        return []
    async with db.reader() as session:
        sent = await session.execute(
            select(OutboxMail.recipient, OutboxMail.spec).where(
                OutboxMail.message_id == message.message_id
            )
        )
        recipients: list[str] = []
        for recipient, spec in sent:
            recipients.append(recipient)
            recipients.extend(_also_addressed(spec or {}))
        return await _warnings(session, recipients)


async def recipient_warnings(db: Database, addresses: Iterable[str]) -> list[dict[str, Any]]:
    """reply_warnings' answer for a reply not yet written: which of `addresses` (its To and
    Cc as the composer holds them) are suppressed now, in the order given."""
    async with db.reader() as session:
        return await _warnings(session, list(addresses))


async def _warnings(session: AsyncSession, recipients: list[str]) -> list[dict[str, Any]]:
    """A `recipient_suppressed` warning per suppressed address of `recipients`, once each."""
    found = await in_force(session, recipients)
    return [
        {
            "code": "recipient_suppressed",
            "address": row.address,
            "reason": row.reason,
            "suppression_id": row.id,
            "expires_at": row.expires_at,
        }
        for row in (found[a.lower()] for a in dict.fromkeys(recipients) if a.lower() in found)
    ]
