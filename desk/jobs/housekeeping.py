"""Archival and clean-up: the jobs that keep lists short and tables small."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Delete, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.tokens import REFRESH_DAYS
from desk.context import Desk
from desk.desk_settings import refresh_if_stale
from desk.models import (
    AuthSession,
    DeliveryState,
    EventRecord,
    OtpCode,
    Status,
    Ticket,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from desk.tickets.workflow import set_archived

BATCH = 200
# Long enough for any client to resume a WebSocket after a night away; webhooks are queued
# from the change itself, so pruning events never loses a delivery.
EVENTS_KEPT = timedelta(days=7)
DELIVERIES_KEPT = timedelta(days=30)


async def archive_finished(desk: Desk) -> int:
    """RESOLVED and CLOSED tickets finished more than POSTDESK_ARCHIVE_AFTER_HOURS ago are
    archived, a batch per transaction, with history and events as if an agent had done it.
    An admin may have changed the delay at run time (desk/desk_settings.py)."""
    await refresh_if_stale(desk)
    cutoff = utcnow() - timedelta(hours=desk.settings.archive_after_hours)
    finished = func.coalesce(Ticket.resolved_at, Ticket.updated_at)
    total = 0
    while True:
        async with desk.change() as (session, events):
            tickets = list(
                await session.scalars(
                    select(Ticket)
                    .where(
                        Ticket.status.in_([Status.RESOLVED.value, Status.CLOSED.value]),
                        Ticket.archived_at.is_(None),
                        finished < cutoff,
                    )
                    .order_by(Ticket.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for ticket in tickets:
                set_archived(session, events, ticket, True, None)
        total += len(tickets)
        if len(tickets) < BATCH:
            return total


async def clean_up(desk: Desk) -> dict[str, int]:
    """Expired sign-up codes, sessions whose refresh token can no longer be used, old events
    and old finished webhook deliveries."""
    now = utcnow()
    counts: dict[str, int] = {}
    async with desk.db.writer() as session:
        dead_codes = delete(OtpCode).where(
            OtpCode.expires_at < now,
            or_(OtpCode.verified_until.is_(None), OtpCode.verified_until < now),
        )
        counts["otp_codes"] = await _deleted(session, dead_codes)
        last_use = func.coalesce(AuthSession.rotated_at, AuthSession.created_at)
        dead_sessions = delete(AuthSession).where(last_use < now - timedelta(days=REFRESH_DAYS))
        counts["sessions"] = await _deleted(session, dead_sessions)
        old_events = delete(EventRecord).where(EventRecord.created_at < now - EVENTS_KEPT)
        counts["events"] = await _deleted(session, old_events)
        old = select(WebhookDelivery.id).where(
            WebhookDelivery.state != DeliveryState.PENDING.value,
            WebhookDelivery.created_at < now - DELIVERIES_KEPT,
        )
        await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
        old_deliveries = delete(WebhookDelivery).where(WebhookDelivery.id.in_(old))
        counts["webhook_deliveries"] = await _deleted(session, old_deliveries)
    return counts


async def _deleted(session: AsyncSession, statement: Delete) -> int:
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
