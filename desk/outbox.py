"""The outbox: mail queued inside the transaction that caused it, then claimed and sent once."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from desk.db import Database
from desk.mail.compose import Outgoing, check_recipient, new_message_id
from desk.models import KnownMessageId, OutboxMail, OutboxState, utcnow
from desk.suppressions import in_force

GIVE_UP_AFTER = timedelta(hours=48)
MAX_BACKOFF = timedelta(hours=1)
# A send takes seconds; a claim this old belongs to a process that died mid-send.
STALE_CLAIM = timedelta(minutes=10)


async def queue_mail(
    session: AsyncSession, out: Outgoing, *, ticket_id: int | None, kind: str
) -> OutboxMail:
    """Queue `out` in the caller's transaction. Its Message-ID is fixed now (replies must
    thread to it); the bytes are composed by the sender, outside the write transaction."""
    check_recipient(out)
    message_id = new_message_id(out.from_address)
    row = OutboxMail(
        ticket_id=ticket_id,
        recipient=out.to_address,
        kind=kind,
        message_id=message_id,
        spec=asdict(out),
        is_automatic=out.automatic,
    )
    session.add(row)
    if ticket_id is not None:
        # A reply to this mail finds its ticket by In-Reply-To. The Message-ID is new (time,
        # process and 64 random bits), so the row is added for the next flush rather than
        # inserted now: queuing a batch's acknowledgements then costs one flush, not one each.
        session.add(KnownMessageId(message_id=message_id, ticket_id=ticket_id, created_at=utcnow()))
    return row


class AutoReplyBudget:
    """Automatic mail to one address is capped per hour, so two robots can never ping-pong
    for long, and none goes to a suppressed address. Loaded once for a batch of recipients,
    then counted down in memory."""

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._sent: dict[str, int] = {}
        self.suppressed: dict[str, str] = {}  # address -> why (desk/suppressions.py)

    async def load(self, session: AsyncSession, recipients: set[str]) -> None:
        found = await in_force(session, recipients)
        self.suppressed.update({address: row.reason for address, row in found.items()})
        since = utcnow() - timedelta(hours=1)
        rows = await session.execute(
            select(OutboxMail.recipient, func.count())
            .where(
                OutboxMail.recipient.in_(recipients),
                OutboxMail.is_automatic.is_(True),
                OutboxMail.created_at >= since,
            )
            .group_by(OutboxMail.recipient)
        )
        self._sent.update({recipient: int(count) for recipient, count in rows.all()})

    def take(self, recipient: str) -> bool:
        sent = self._sent.get(recipient, 0)
        if sent >= self._per_hour:
            return False
        self._sent[recipient] = sent + 1
        return True


@dataclass(frozen=True)
class Claimed:
    id: int
    recipient: str
    message_id: str
    spec: dict[str, Any] | None
    raw: bytes | None  # None until the first attempt composes it
    attempts: int


def envelope_recipients(row: Claimed) -> list[str]:
    """Where an outbox row goes (SMTP RCPT TO): its recipient, then the other To and Cc
    people its spec was written with (desk/mail/compose.py `Outgoing`), each once."""
    spec = row.spec or {}
    rest = [address for _, address in (*spec.get("also_to", ()), *spec.get("cc", ()))]
    return list(dict.fromkeys([row.recipient, *rest]))


async def claim_due(db: Database, limit: int = 20) -> list[Claimed]:
    """Mark due rows `sending` in a committed transaction before any byte goes out, so no
    other sender (or a later run of this one) can send the same row again."""
    now = utcnow()
    async with db.writer() as session:
        query = (
            select(OutboxMail)
            .where(OutboxMail.state == OutboxState.PENDING.value, OutboxMail.next_attempt_at <= now)
            .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await session.scalars(query))
        for row in rows:
            row.state = OutboxState.SENDING.value
            row.claimed_at = now
            row.attempts += 1
        return [Claimed(r.id, r.recipient, r.message_id, r.spec, r.raw, r.attempts) for r in rows]


# What an operator asks for (API.md: `postdesk outbox list --state queued|sent|failed`), in
# the rows' own states: queued is what has not gone out yet, claimed for sending or not.
# `postdesk outbox list --state`: every state a row can be in, and `queued` for the mail
# still to go out (pending or being sent).
LISTED_STATES = {
    "queued": (OutboxState.PENDING.value, OutboxState.SENDING.value),
    **{state.value: (state.value,) for state in OutboxState},
}


async def list_outbox(db: Database, state: str | None = None) -> list[OutboxMail]:
    """Outgoing mail, oldest first, without the composed bytes; `state` a LISTED_STATES key."""
    query = (
        select(OutboxMail)
        .options(defer(OutboxMail.raw), defer(OutboxMail.spec))
        .order_by(OutboxMail.id)
    )
    if state is not None:
        query = query.where(OutboxMail.state.in_(LISTED_STATES[state]))
    async with db.reader() as session:
        return list(await session.scalars(query))


async def release(db: Database, rows: Sequence[Claimed]) -> None:
    """Claimed rows never attempted (the sender is stopping) go back to the queue as if never
    claimed: left `sending`, settle_interrupted would fail them as possibly sent."""
    if not rows:
        return
    async with db.writer() as session:
        await session.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id.in_([r.id for r in rows]),
                OutboxMail.state == OutboxState.SENDING.value,
            )
            .values(
                state=OutboxState.PENDING.value,
                claimed_at=None,
                attempts=OutboxMail.attempts - 1,
            )
        )


async def mark_sent(db: Database, row_id: int, raw: bytes) -> None:
    await _set(db, row_id, state=OutboxState.SENT.value, sent_at=utcnow(), last_error=None, raw=raw)


async def mark_failed(db: Database, row_id: int, error: str) -> None:
    await _set(db, row_id, state=OutboxState.FAILED.value, last_error=error[:2000])


async def mark_retry(db: Database, row: Claimed, error: str, raw: bytes) -> str | None:
    """Transient failure: back off exponentially with jitter; give up after 48 hours (then
    the error recorded, the row failed, is returned)."""
    async with db.writer() as session:
        created = await session.scalar(select(OutboxMail.created_at).where(OutboxMail.id == row.id))
        if created is not None and utcnow() - created > GIVE_UP_AFTER:
            state, when = OutboxState.FAILED.value, utcnow()
            hours = int(GIVE_UP_AFTER.total_seconds() // 3600)
            error = f"gave up after {hours} hours of temporary failures; the last: {error}"
        else:
            delay = min(timedelta(seconds=2 ** min(row.attempts, 12)), MAX_BACKOFF)
            state, when = OutboxState.PENDING.value, utcnow() + delay * random.uniform(0.8, 1.2)
        await session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == row.id)
            .values(state=state, next_attempt_at=when, last_error=error[:2000], raw=raw)
        )
    return error if state == OutboxState.FAILED.value else None


async def settle_interrupted(db: Database, older_than: timedelta = STALE_CLAIM) -> int:
    """Rows left `sending` by a process that died: the relay may already have them, so they
    are failed with the reason rather than sent a second time; an admin can resend."""
    async with db.writer() as session:
        result = await session.execute(
            update(OutboxMail)
            .where(
                OutboxMail.state == OutboxState.SENDING.value,
                OutboxMail.claimed_at < utcnow() - older_than,
            )
            .values(
                state=OutboxState.FAILED.value,
                last_error="interrupted while sending; not resent to avoid a duplicate",
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _set(db: Database, row_id: int, **values: object) -> None:
    async with db.writer() as session:
        await session.execute(update(OutboxMail).where(OutboxMail.id == row_id).values(**values))
