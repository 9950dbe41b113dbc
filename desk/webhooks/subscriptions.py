"""Webhook subscriptions, managed by admins. The secret is shown when it is made (on create
and on rotation) and never again, like an API key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from desk.context import Desk
from desk.errors import NotFound, ValidationFailed
from desk.events.types import STORED_KINDS
from desk.models import User, WebhookAttempt, WebhookDelivery, WebhookSubscription
from desk.webhooks.destinations import check_destination
from desk.webhooks.queue import delivery_data
from desk.webhooks.signing import new_secret, normalized_secret

EVENT_TYPES = tuple(kind.type for kind in STORED_KINDS)  # typing is never stored
PATTERNS = ("*", "ticket.*", "message.*", "chat.*", "agent.*")


def check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES and e not in PATTERNS]
    if not events or unknown:
        raise ValidationFailed(
            f"unknown event types {unknown}" if unknown else "name at least one event type",
            field="events",
            allowed=[*PATTERNS, *EVENT_TYPES],
        )
    return sorted(set(events))


def _check_secret(secret: str) -> str:
    normalized = normalized_secret(secret)
    if normalized is None:
        raise ValidationFailed(
            "a secret is base64 of 16 to 64 random bytes, whsec_ optional", field="secret"
        )
    return normalized


def subscription_data(sub: WebhookSubscription, *, with_secret: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "events": sub.events,
        "description": sub.description,
        "is_active": sub.is_active,
        "created_at": sub.created_at.isoformat(),
        "failing_since": sub.failing_since.isoformat() if sub.failing_since else None,
        "disabled_reason": sub.disabled_reason,
    }
    if with_secret:
        data["secret"] = sub.secret
    return data


async def create(
    desk: Desk,
    actor: User,
    *,
    url: str,
    events: list[str],
    secret: str | None,
    description: str,
    is_active: bool,
) -> WebhookSubscription:
    await check_destination(url, desk.settings.webhook_allow_private)
    sub = WebhookSubscription(
        url=url,
        events=check_events(events),
        description=description,
        is_active=is_active,
        secret=_check_secret(secret) if secret else new_secret(),
        created_by=actor.id,
    )
    async with desk.db.writer() as session:
        session.add(sub)
    return sub


async def get(desk: Desk, sub_id: int) -> WebhookSubscription:
    async with desk.db.reader() as session:
        sub = await session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound("no such webhook")
    return sub


async def list_page(desk: Desk, offset: int, limit: int) -> tuple[int, list[WebhookSubscription]]:
    async with desk.db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookSubscription))
        subs = await session.scalars(
            select(WebhookSubscription).order_by(WebhookSubscription.id).offset(offset).limit(limit)
        )
        return int(count or 0), list(subs)


async def change(
    desk: Desk, sub_id: int, fields: dict[str, Any]
) -> tuple[WebhookSubscription, bool]:
    """Returns the subscription and whether its secret was rotated (then it is shown)."""
    if "url" in fields:
        await check_destination(fields["url"], desk.settings.webhook_allow_private)
    async with desk.db.writer() as session:
        sub = await session.get(WebhookSubscription, sub_id, with_for_update=True)
        if sub is None:
            raise NotFound("no such webhook")
        for name in ("url", "description"):
            if name in fields:
                setattr(sub, name, fields[name])
        if "events" in fields:
            sub.events = check_events(fields["events"])
        if fields.get("is_active") is not None:
            if fields["is_active"] and not sub.is_active:  # turned back on: a fresh start
                sub.failing_since, sub.disabled_reason = None, None
            sub.is_active = fields["is_active"]
        rotated = bool(fields.get("rotate_secret"))
        if rotated:
            sub.secret = new_secret()
        return sub, rotated


async def remove(desk: Desk, sub_id: int) -> None:
    async with desk.db.writer() as session:
        sub = await session.get(WebhookSubscription, sub_id)
        if sub is None:
            raise NotFound("no such webhook")
        await session.delete(sub)  # deliveries and their attempts go with it (cascade)


async def deliveries_page(
    desk: Desk, sub_id: int, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    await get(desk, sub_id)
    async with desk.db.reader() as session:
        count = await session.scalar(
            select(func.count()).where(WebhookDelivery.subscription_id == sub_id)
        )
        deliveries = list(
            await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == sub_id)
                .order_by(WebhookDelivery.id.desc())
                .offset(offset)
                .limit(limit)
            )
        )
        attempts = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.id)
        )
        by_delivery: dict[int, list[WebhookAttempt]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
        return int(count or 0), [delivery_data(d, by_delivery.get(d.id, [])) for d in deliveries]
