"""What keeps the desk moving without anyone pressing buttons: scheduled jobs (with the
lease that makes each run once per cluster), IMAP mailbox positions, and outbound webhooks
with their durable delivery queue."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class JobRun(Base):
    """One row per job: who holds it now (a lease that expires, so a process that died
    mid-job does not hold it forever) and how its last run went."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    interval_seconds: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_result: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ImapMailbox(Base):
    """Where a poller stands in one mailbox. UIDs only mean something together with the
    mailbox's UIDVALIDITY; when the server changes it, the position starts over (mail
    already stored is recognised by its bytes, so nothing is duplicated)."""

    __tablename__ = "imap_mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(500), unique=True)  # user@host:port/MAILBOX
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The last successful sync (a connection or a poll answered); an error leaves it as it
    # was, so the console shows both (desk.imap_mailboxes).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # types, or ["*"]
    secret: Mapped[str] = mapped_column(String(200))  # whsec_<base64>, Standard Webhooks
    description: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set at the first failed attempt after a success; failing for a day disables it.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the retry window; can be redelivered by hand


class WebhookDelivery(Base):
    """One event for one subscription, queued in the transaction of the change itself."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
