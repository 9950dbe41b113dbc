"""Logins as sessions: issue, rotate and revoke token pairs (refresh rotation with reuse
detection), and the per-request check that a token's session and user are still good."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from desk.auth.tokens import decode, issue_pair
from desk.config import Settings
from desk.db import Database
from desk.errors import NotAuthenticated
from desk.models import AuthSession, User, utcnow


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


async def session_user(db: Database, settings: Settings, access_token: str) -> User:
    """The caller of a request, checked against the database on every request: a
    deactivated account or an ended session is shut out at once. Their queue memberships
    come in the same statement (a join), for the access checks."""
    claims = decode(settings, access_token, "access")
    return await live_user(db, int(claims["sub"]), claims["sid"])


async def live_user(db: Database, user_id: int, sid: str) -> User:
    """User `user_id` if session `sid` is theirs, not revoked, and the account is active;
    NotAuthenticated otherwise. Tokens and browser cookies both end here."""
    async with db.reader() as session:
        found = (
            (
                await session.execute(
                    select(User, AuthSession.revoked_at)
                    .join(AuthSession, AuthSession.user_id == User.id)
                    .where(User.id == user_id, AuthSession.id == sid)
                    .options(joinedload(User.memberships))
                )
            )
            .unique()
            .first()
        )
    if found is None:
        raise NotAuthenticated("this session has ended; log in again")
    user, revoked_at = found
    if revoked_at is not None:
        raise NotAuthenticated("this session has ended; log in again")
    if not user.is_active:
        raise NotAuthenticated("this account is not active")
    return user
