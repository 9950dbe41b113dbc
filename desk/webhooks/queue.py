"""The delivery queue. A change's webhook deliveries are inserted in the change's own
transaction (from the stored events), so an event is either committed with its deliveries
or not at all; the sender claims due rows, and every attempt is logged.

Retry policy: a timeout, a connection error, 408, 429 or a 5xx is retried with exponential
backoff (10 s doubling, at most 1 h, ±25% jitter) until the delivery is 24 hours old; any
other answer outside 2xx is final (the receiver said no). A subscription whose deliveries
have failed without a single success for 24 hours is disabled and the admins are mailed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.db import Database
from desk.errors import NotFound
from desk.events import Event
from desk.mail.compose import Outgoing
from desk.models import (
    DeliveryState,
    Role,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from desk.outbox import queue_mail

RETRY_WINDOW = timedelta(hours=24)
FIRST_BACKOFF = timedelta(seconds=10)
MAX_BACKOFF = timedelta(hours=1)
CLAIM = timedelta(minutes=2)  # an attempt takes at most the request timeout (10 s)


def matches(patterns: Sequence[str], event_type: str) -> bool:
    return any(
        p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
        for p in patterns
    )


def payload(event: Event) -> dict[str, Any]:
    """What the receiver gets: the event's `data` as on the bus, under its stored id."""
    return {
        "type": event.type,
        "timestamp": event.at.isoformat(),
        "event_id": event.id,
        "data": event.data(),
    }


async def enqueue(session: AsyncSession, events: Sequence[Event]) -> None:
    """Called with the change's stored events (ids assigned), inside its transaction."""
    if not events:
        return
    subscriptions = (
        await session.execute(
            select(WebhookSubscription.id, WebhookSubscription.events).where(
                WebhookSubscription.is_active
            )
        )
    ).all()
    now = utcnow()
    session.add_all(
        WebhookDelivery(
            subscription_id=sub_id,
            event_id=int(e.id),
            event_type=e.type,
            payload=payload(e),
            next_attempt_at=now,
            created_at=now,
        )
        for sub_id, patterns in subscriptions
        for e in events
        if matches(patterns, e.type)
    )


@dataclass(frozen=True)
class Due:
    id: int
    subscription_id: int
    url: str
    secret: str
    body: dict[str, Any]
    attempts: int


async def claim_due(db: Database, limit: int = 20) -> list[Due]:
    """Claim due deliveries of active subscriptions in a committed transaction first, so no
    other sender (or replica) attempts the same one at the same time. Deliveries whose
    subscription was disabled meanwhile are settled as failed, not sent.

    The sender is woken by every stored event, and most changes queue no delivery: a read
    answers "nothing due" without taking the write transaction (on SQLite the one write
    lock, which the intake and the SMTP commits wait for)."""
    now = utcnow()
    async with db.reader() as session:
        anything = await session.scalar(select(WebhookDelivery.id).where(*_due(now)).limit(1))
    if anything is None:
        return []
    async with db.writer() as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookSubscription)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .where(*_due(now))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
        ).all()
        due = []
        for delivery, sub in rows:
            if not sub.is_active:
                delivery.state = DeliveryState.FAILED.value
                delivery.last_error = "the subscription is disabled"
                continue
            delivery.claimed_until = now + CLAIM
            delivery.attempts += 1
            due.append(
                Due(delivery.id, sub.id, sub.url, sub.secret, delivery.payload, delivery.attempts)
            )
        return due


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and not claimed by a sender (or its claim ran out)."""
    d = WebhookDelivery
    return (
        d.state == DeliveryState.PENDING.value,
        d.next_attempt_at <= now,
        or_(d.claimed_until.is_(None), d.claimed_until < now),
    )


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP answer (timeout, refused, forbidden destination)
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 429) or self.status >= 500


async def record(
    db: Database, due: Due, outcome: Outcome, desk_name: str, support_address: str
) -> None:
    now = utcnow()
    async with db.writer() as session:
        delivery = await session.get(WebhookDelivery, due.id, with_for_update=True)
        sub = await session.get(WebhookSubscription, due.subscription_id, with_for_update=True)
        if delivery is None or sub is None:
            return  # the subscription was deleted meanwhile
        attempt = WebhookAttempt(
            delivery_id=due.id,
            attempted_at=now,
            status_code=outcome.status,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        session.add(attempt)
        delivery.claimed_until = None
        delivery.last_status = outcome.status
        delivery.last_error = outcome.error
        if outcome.delivered:
            delivery.state = DeliveryState.DELIVERED.value
            delivery.delivered_at = now
            sub.failing_since = None
            return
        if outcome.retryable and now - delivery.created_at < RETRY_WINDOW:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        else:
            delivery.state = DeliveryState.FAILED.value
        sub.failing_since = sub.failing_since or now
        if sub.is_active and now - sub.failing_since >= RETRY_WINDOW:
            await _disable(session, sub, desk_name, support_address)


def backoff(attempts: int) -> timedelta:
    base = min(FIRST_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)
    return base * random.uniform(0.75, 1.25)


async def _disable(
    session: AsyncSession, sub: WebhookSubscription, desk_name: str, support_address: str
) -> None:
    sub.is_active = False
    sub.disabled_reason = (
        f"every delivery failed since {sub.failing_since:%Y-%m-%d %H:%M} UTC;"
        " disabled after 24 hours"
    )
    admins = await session.scalars(
        select(User).where(User.role == Role.ADMIN.value, User.is_active)
    )
    for admin in admins:
        out = Outgoing(
            to_address=admin.email,
            to_name=admin.name,
            from_name=desk_name,
            from_address=support_address,
            reply_to=support_address,
            subject=f"{desk_name}: webhook #{sub.id} was disabled",
            template="webhook_disabled",
            context={
                "name": admin.name,
                "url": sub.url,
                "subscription_id": sub.id,
                "reason": sub.disabled_reason,
                "desk_name": desk_name,
            },
            automatic=True,
            auto_submitted="auto-generated",
        )
        await queue_mail(session, out, ticket_id=None, kind="webhook_disabled")


async def redeliver(db: Database, subscription_id: int, delivery_id: int) -> WebhookDelivery:
    """By hand: the same delivery (same webhook-id, so receivers can still de-duplicate),
    due now, with a fresh 24-hour window."""
    now = utcnow()
    async with db.writer() as session:
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.subscription_id != subscription_id:
            raise NotFound("no such delivery")
        delivery.state = DeliveryState.PENDING.value
        delivery.next_attempt_at = now
        delivery.created_at = now
        delivery.claimed_until = None
        return delivery


def delivery_data(delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt]) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": delivery.id,
        "webhook_id": f"msg_{delivery.id}",
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at)
        if delivery.state == DeliveryState.PENDING.value
        else None,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
        "payload": delivery.payload,
        "attempt_log": [
            {
                "at": iso(a.attempted_at),
                "status": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in attempts
        ],
    }
