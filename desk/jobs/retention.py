"""How long raw inbound mail is kept: POSTDESK_RAW_MAIL_RETENTION_DAYS after it was
processed (or ignored), its raw bytes are dropped; the ticket rows made from it, its
envelope and its digest (which still recognises the same mail delivered again) stay.
Failed mail and mail not yet processed keep their bytes: they may be processed again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, update

from desk.context import Desk
from desk.models import InboundMail, InboundState, utcnow

DONE = (InboundState.PROCESSED.value, InboundState.IGNORED.value)


async def drop_old_raw_mail(desk: Desk) -> int:
    """Drop the raw bytes of mail processed more than the setting's days ago; return how
    many mails lost them (0, and nothing done, when the setting is unset)."""
    days = desk.settings.raw_mail_retention_days
    if days is None:
        return 0
    now = utcnow()
    done_at = func.coalesce(InboundMail.processed_at, InboundMail.received_at)
    async with desk.db.writer() as session:
        result = await session.execute(
            update(InboundMail)
            .where(
                InboundMail.state.in_(DONE),
                InboundMail.raw_removed_at.is_(None),
                done_at < now - timedelta(days=days),
            )
            .values(raw=b"", raw_removed_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)
