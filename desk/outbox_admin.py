"""The outbox as an admin reads it (`postdesk outbox list` and the admin API): each mail
with its state, error and next attempt; a failed mail can be sent again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from desk.db import Database
from desk.errors import Conflict, NotFound, ValidationFailed
from desk.models import OutboxMail, OutboxState, utcnow
from desk.outbox import LISTED_STATES

# What an admin may ask for: the operator's names (desk.outbox.LISTED_STATES) and the mail
# kept unsent because its address is suppressed.
ADMIN_STATES = {**LISTED_STATES, "suppressed": (OutboxState.SUPPRESSED.value,)}


def outbox_record(row: OutboxMail) -> dict[str, Any]:
    """One outbox row; `pending` and `sending` are shown as `queued`."""
    queued = row.state in LISTED_STATES["queued"]
    return {
        "id": row.id,
        "state": "queued" if queued else row.state,
        "kind": row.kind,
        "recipient": row.recipient,
        "ticket_id": row.ticket_id,
        "is_automatic": row.is_automatic,
        "attempts": row.attempts,
        "created_at": _time(row.created_at),
        "next_attempt_at": _time(row.next_attempt_at) if queued else None,
        "sent_at": _time(row.sent_at),
        "error": row.last_error,
    }


async def list_for_admin(
    db: Database, state: str | None, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first, without the composed bytes; `state` an ADMIN_STATES key or None."""
    where = []
    if state is not None:
        if state not in ADMIN_STATES:
            raise ValidationFailed(f"state is one of {', '.join(ADMIN_STATES)}", field="state")
        where.append(OutboxMail.state.in_(ADMIN_STATES[state]))
    query = (
        select(OutboxMail)
        .options(defer(OutboxMail.raw), defer(OutboxMail.spec))
        .where(*where)
        .order_by(OutboxMail.id.desc())
        .offset(offset)
        .limit(limit)
    )
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxMail).where(*where))
        rows = list(await session.scalars(query))
    return int(count or 0), [outbox_record(r) for r in rows]


async def retry_mail(db: Database, mail_id: int) -> dict[str, Any]:
    """A failed mail goes back in the queue, due now (a queued one is made due now). Its
    bytes, if composed, are sent as they are: the same Message-ID. NotFound if there is no
    such mail; Conflict for mail sent already or kept back by a suppression (lift the
    suppression first: the next mail to that address goes out)."""
    async with db.writer() as session:
        row = await session.get(OutboxMail, mail_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no outgoing mail with id {mail_id}", id=mail_id)
        if row.state not in (OutboxState.FAILED.value, OutboxState.PENDING.value):
            raise Conflict(f"this mail is {row.state}; only failed mail is sent again")
        row.state = OutboxState.PENDING.value
        row.next_attempt_at = utcnow()
        row.claimed_at = None
        await session.flush()
        return outbox_record(row)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
