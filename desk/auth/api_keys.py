"""API keys for integrations: created by an admin, shown once, stored as a hash, scoped,
revocable. Keys are 256-bit random, so a SHA-256 digest is enough (no password hashing)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from desk.db import Database
from desk.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from desk.models import ApiKey, Role, User, utcnow

SCOPES = frozenset({"inbound:write", "tickets:read", "tickets:write"})
PREFIX = "pdk_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(db: Database, admin: User, name: str, scopes: list[str]) -> dict[str, Any]:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise ValidationFailed(f"scopes must be some of {sorted(SCOPES)}", field="scopes")
    lookup, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    async with db.writer() as session:
        key = ApiKey(
            name=name,
            lookup=lookup,
            secret_hash=_digest(secret),
            scopes=sorted(set(scopes)),
            created_by=admin.id,
        )
        session.add(key)
    return {**describe(key), "key": f"{PREFIX}{lookup}_{secret}"}


async def list_keys(db: Database) -> list[dict[str, Any]]:
    async with db.reader() as session:
        return [describe(k) for k in await session.scalars(select(ApiKey).order_by(ApiKey.id))]


async def revoke_key(db: Database, key_id: int) -> None:
    async with db.writer() as session:
        key = await session.get(ApiKey, key_id, with_for_update=True)
        if key is None:
            raise NotFound(f"no API key {key_id}")
        key.revoked_at = key.revoked_at or utcnow()


async def authenticate_key(db: Database, presented: str, scope: str) -> ApiKey:
    """The key behind `presented` if it is valid, not revoked and carries `scope`. Checked
    by a read; `last_used_at` is written at most once a minute, so a busy integration does
    not cost a write transaction per request."""
    lookup, _, secret = presented.removeprefix(PREFIX).partition("_")
    async with db.reader() as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.lookup == lookup))
    if (
        key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(key.secret_hash, _digest(secret))
    ):
        raise NotAuthenticated("invalid or revoked API key")
    if scope not in key.scopes:
        raise PermissionDenied(f"this API key lacks the {scope} scope")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        async with db.writer() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            )
        key.last_used_at = now
    return key


LAST_USED_EVERY = timedelta(minutes=1)
# The accounts keys act as: `.invalid` (RFC 2606) can receive no mail, so nobody can claim
# one by a one-time code, and it has no password, so nobody can sign in as one.
KEY_ACCOUNT_DOMAIN = "integrations.invalid"


async def key_account(db: Database, presented: str, scope: str) -> User:
    """The account an API key with `scope` acts as on the ticket routes, made at its first
    use: an admin-role account named after the key (it sees every ticket, as an
    integration with tickets:read expects), so history and messages name the integration.
    Only routes that name a key scope accept keys, so the role opens nothing else."""
    key = await authenticate_key(db, presented, scope)
    email = f"api-key-{key.id}@{KEY_ACCOUNT_DOMAIN}"
    async with db.reader() as session:
        found = await session.scalar(select(User).where(User.email == email))
    if found is not None:
        if not found.is_active:
            raise PermissionDenied("this API key's account is deactivated")
        return found
    try:
        async with db.writer() as session:
            user = User(email=email, name=f"API key {key.name}"[:200], role=Role.ADMIN.value)
            session.add(user)
        return user
    except IntegrityError:  # made by a concurrent first request: use that one
        async with db.reader() as session:
            return (await session.scalars(select(User).where(User.email == email))).one()


def describe(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": key.scopes,
        "prefix": f"{PREFIX}{key.lookup}",
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
