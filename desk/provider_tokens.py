"""One signed provider request, taken once: the token of a signature that was accepted is
remembered until its timestamp could no longer pass, and the same token again is a replay.

Used by the Mailgun inbound route (web/handlers/inbound.py): Mailgun signs only
timestamp + token (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/
securing-webhooks), so without this a captured signature carries any body for its window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from desk.db import Database
from desk.mail.providers import BadSignature
from desk.models import ProviderToken, utcnow


@asynccontextmanager
async def taken_once(
    db: Database, provider: str, token: str, window_seconds: float
) -> AsyncIterator[None]:
    """Claim `token` for the body of the block; raises BadSignature (401) when it was
    taken before. When the block fails (the mail could not be stored, the provider will
    retry with the same signature) the claim is given back."""
    now = utcnow()
    try:
        async with db.writer() as session:
            # Tokens whose timestamps can no longer pass: forgotten, so the table stays small.
            cutoff = now - timedelta(seconds=2 * window_seconds)
            await session.execute(delete(ProviderToken).where(ProviderToken.seen_at < cutoff))
            session.add(ProviderToken(provider=provider, token=token, seen_at=now))
    except IntegrityError:
        raise BadSignature(f"this {provider} signature was already used (a replay)") from None
    try:
        yield
    except BaseException:
        async with db.writer() as session:
            await session.execute(
                delete(ProviderToken).where(
                    ProviderToken.provider == provider, ProviderToken.token == token
                )
            )
        raise
