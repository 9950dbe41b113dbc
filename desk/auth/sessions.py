"""Logins as sessions: issue, rotate and revoke token pairs (refresh rotation with reuse
detection), and the per-request check that a token's session and user are still good."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from desk.auth.tokens import VerifiedTokens, decode, issue_pair
from desk.config import Settings
from desk.db import Database
from desk.errors import NotAuthenticated
from desk.models import AuthSession, Queue, QueueMember, User, utcnow
from desk.models.base import Base

M = TypeVar("M", bound=Base)


async def start_session(db: Database, settings: Settings, user: User) -> dict[str, str]:
    sid, jti = uuid.uuid4().hex, uuid.uuid4().hex
    async with db.writer() as session:
        session.add(AuthSession(id=sid, user_id=user.id, current_jti=jti))
    return issue_pair(settings, user.id, sid, jti)


async def rotate(db: Database, settings: Settings, refresh_token: str) -> dict[str, str]:
    """A new pair for the newest refresh token. An older one means the token was copied:
    the whole session is revoked, the thief's copy and the owner's alike."""
    claims = decode(settings, refresh_token, "refresh")
    async with db.writer() as session:
        login = await session.get(AuthSession, claims["sid"], with_for_update=True)
        if login is None or login.revoked_at is not None:
            raise NotAuthenticated("this session has ended; log in again")
        if login.current_jti != claims["jti"]:
            login.revoked_at, login.revoked_reason = utcnow(), "refresh token reuse"
            reused = True
        else:
            user = await session.get(User, login.user_id)
            if user is None or not user.is_active:
                raise NotAuthenticated("this account is not active")
            login.current_jti, login.rotated_at = uuid.uuid4().hex, utcnow()
            reused = False
    if reused:  # committed above: the revocation stands even though this call fails
        raise NotAuthenticated("refresh token was already used; the session is revoked")
    return issue_pair(settings, login.user_id, login.id, login.current_jti)


async def end_session(
    db: Database, settings: Settings, refresh_token: str
) -> tuple[int, str] | None:
    """Revoke the token's session; (user id, session id) when it was still open."""
    claims = decode(settings, refresh_token, "refresh")
    return await end_session_by_id(db, claims["sid"])


async def end_session_by_id(db: Database, sid: str) -> tuple[int, str] | None:
    """Revoke session `sid` (a browser's sign-out names it from its cookie); (user id,
    session id) when it was still open."""
    async with db.writer() as session:
        login = await session.get(AuthSession, sid, with_for_update=True)
        if login is None or login.revoked_at is not None:
            return None
        login.revoked_at, login.revoked_reason = utcnow(), "logout"
        return login.user_id, login.id


async def end_every_session(session: AsyncSession, user_id: int, reason: str) -> int:
    """Revoke every open session of the account, in the caller's transaction (a password
    changed or an account deactivated: whoever held a token or cookie from before is out
    for good, even once the account is active again). How many were open."""
    done = await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def session_user(
    db: Database, settings: Settings, access_token: str, tokens: VerifiedTokens | None = None
) -> User:
    """The caller of a request, checked against the database on every request: a
    deactivated account or an ended session is shut out at once. Their queue memberships
    come in the same statement (a join), for the access checks. `tokens` (the web app's,
    see VerifiedTokens) spares checking the signature of a token seen before."""
    if tokens is None:
        claims = decode(settings, access_token, "access")
    else:
        claims = tokens.claims(settings, access_token)
    return await live_user(db, int(claims["sub"]), claims["sid"])


async def live_user(db: Database, user_id: int, sid: str) -> User:
    """User `user_id` if session `sid` is theirs, not revoked, and the account is active;
    NotAuthenticated otherwise. Tokens and browser cookies both end here. The user is read
    as plain rows (one per queue membership) in one statement and handed back detached,
    with `memberships` (and their queues) loaded, as the ORM would after a session ends."""
    async with db.reader_connection() as connection:
        rows = (await connection.execute(CALLER, {"user_id": user_id, "sid": sid})).all()
    if not rows or rows[0].revoked_at is not None:
        raise NotAuthenticated("this session has ended; log in again")
    if not rows[0].is_active:
        raise NotAuthenticated("this account is not active")
    memberships = [
        detached(QueueMember, _MEMBER, row, queue=detached(Queue, _QUEUE, row))
        for row in rows
        if row.m_queue_id is not None
    ]
    return detached(User, _USER, rows[0], memberships=memberships)


class _Columns:
    """Where a model's columns sit in the caller's row: their attribute names, and the
    slice of the row holding them."""

    def __init__(self, model: type[Base], prefix: str, start: int) -> None:
        columns = list(model.__table__.columns)
        self.keys = [c.key for c in columns]
        self.labelled = [c.label(prefix + c.key) for c in columns]
        self.where = slice(start, start + len(columns))


_USER = _Columns(User, "", 0)
_MEMBER = _Columns(QueueMember, "m_", _USER.where.stop)
_QUEUE = _Columns(Queue, "q_", _MEMBER.where.stop)
# The caller with their session's state and, one row each, their queue memberships: built
# once (its values are bound parameters), so each request only binds and runs it.
CALLER = (
    select(*_USER.labelled, *_MEMBER.labelled, *_QUEUE.labelled, AuthSession.revoked_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .outerjoin(QueueMember, QueueMember.user_id == User.id)
    .outerjoin(Queue, Queue.id == QueueMember.queue_id)
    .where(User.id == bindparam("user_id"), AuthSession.id == bindparam("sid"))
)


def detached(model: type[M], columns: _Columns, row: Sequence[Any], **related: Any) -> M:
    """An instance of `model` from its columns in `row` and the `related` objects given,
    as a closed session leaves one: detached, those loaded, nothing to flush. (The ORM's
    own loading, through a session and its identity map, costs several times this on the
    per-request path.)"""
    obj: M = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(zip(columns.keys, row[columns.where], strict=True))
    obj.__dict__.update(related)
    make_transient_to_detached(obj)
    return obj
