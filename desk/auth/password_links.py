"""Setting a password by a link sent by mail: an admin invites a staff member, or a person
who forgot theirs asks for a reset. Each link carries a random token that works once and
for a limited time; only its HMAC under the secret key is stored (as sign-up codes are,
desk/auth/otp.py), and a newer link for the same person ends the older ones.

The link points at the page `/login/set-password?token=...` (POSTDESK_PUBLIC_URL in
front); the page, or any client, trades the token and a new password at
`POST /api/auth/password-reset/confirm/`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.audit import audit
from desk.auth.otp import PER_ADDRESS, PER_EMAIL
from desk.auth.passwords import hash_password, verify_password
from desk.auth.sessions import end_every_session
from desk.context import Desk
from desk.errors import Conflict, ValidationFailed
from desk.events.people import AccessRevoked
from desk.mail.compose import Outgoing
from desk.mail.headers import is_plain_address
from desk.models import PasswordToken, User, utcnow
from desk.outbox import queue_mail
from desk.people import get_user, user_data

# How long a link works: an invitation may wait over a weekend; a reset is asked for by
# someone at their keyboard, so it is short (a mailbox read later by someone else).
INVITE_LIFETIME = timedelta(hours=72)
RESET_LIFETIME = timedelta(hours=1)
SET_PASSWORD_PAGE = "/login/set-password"  # noqa: S105 (a page path, not a password)
MIN_PASSWORD = 8


class InvalidToken(ValidationFailed):
    code = "invalid_token"


def _digest(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), f"password-link:{token}".encode(), hashlib.sha256).hexdigest()


def link_for(public_url: str, token: str) -> str:
    return f"{public_url}{SET_PASSWORD_PAGE}?token={quote(token)}"


async def invite(desk: Desk, admin: User, user_id: int) -> dict[str, Any]:
    """Mail a staff member a link to set their password (audited). Conflict for a customer
    (they sign up by code) or a deactivated account. Answers the account and the link's
    expiry, never the token."""
    async with desk.db.writer() as session:
        user = await get_user(session, user_id)
        if not user.is_staff:
            raise Conflict("only staff are invited; customers sign up by code", field="id")
        if not user.is_active:
            raise Conflict("this account is deactivated; activate it first", field="id")
        expires = await _send_link(session, desk, user, "invite", admin)
        audit(session, admin, "user.invited", f"user:{user.id}", {"expires_at": expires})
        data = user_data(user)
    return {"user": data, "expires_at": expires}


async def request_reset(desk: Desk, raw_email: str, client: str) -> None:
    """Mail a reset link to an active account with this address. Rationed per address and
    per client as sign-up codes are; the caller answers the same whether or not the account
    exists (and this takes the same path up to the mail)."""
    email = raw_email.strip().lower()
    if not is_plain_address(email):
        raise ValidationFailed("not an email address", field="email")
    await desk.logins.spend(f"reset-email:{email}", PER_EMAIL, "reset requests for this address")
    await desk.logins.spend(f"reset-addr:{client}", PER_ADDRESS, "reset requests")
    async with desk.db.writer() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is not None and user.is_active:
            await _send_link(session, desk, user, "reset", None)


async def _send_link(
    session: AsyncSession, desk: Desk, user: User, purpose: str, admin: User | None
) -> str:
    """End the person's earlier links, store a new one and queue its mail; its expiry."""
    s = desk.settings
    now = utcnow()
    await session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    lifetime = INVITE_LIFETIME if purpose == "invite" else RESET_LIFETIME
    session.add(
        PasswordToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_digest(s.secret_key, token),
            created_at=now,
            expires_at=now + lifetime,
            created_by=admin.id if admin else None,
        )
    )
    subject = (
        f"You are invited to {s.desk_name}"
        if purpose == "invite"
        else f"Reset your {s.desk_name} password"
    )
    out = Outgoing(
        to_address=user.email,
        to_name=user.name,
        from_name=s.desk_name,
        from_address=s.support_address,
        reply_to=s.support_address,
        subject=subject,
        template="password_invite" if purpose == "invite" else "password_reset",
        context={
            "desk_name": s.desk_name,
            "name": user.name,
            "link": link_for(s.public_url, token),
            "token": token,
            "hours": int(lifetime.total_seconds() // 3600),
            "invited_by": (admin.name or admin.email) if admin else "",
        },
        automatic=True,
        auto_submitted="auto-generated",
    )
    await queue_mail(session, out, ticket_id=None, kind=f"password_{purpose}")
    return (now + lifetime).isoformat()


async def link_problem(desk: Desk, token: str) -> str | None:
    """Why a link's token would be refused by set_password (used, expired, replaced, for a
    deactivated account), or None while it works; reads only, so the page can say so when
    the link is opened rather than after a password was typed."""
    if not token:
        return "this link is not valid: it carries no token"
    async with desk.db.reader() as session:
        row, user = await _link(session, desk.settings.secret_key, token, lock=False)
    return _refusal(row, user, utcnow())


INVALID_LINK = "this link is not valid (used, expired or replaced)"


async def _link(
    session: AsyncSession, secret: str, token: str, *, lock: bool
) -> tuple[PasswordToken | None, User | None]:
    """The link's row and its account (either None when missing); `lock`: for update."""
    query = select(PasswordToken).where(PasswordToken.token_hash == _digest(secret, token))
    row = await session.scalar(query.with_for_update() if lock else query)
    user = await session.get(User, row.user_id) if row is not None else None
    return row, user


def _refusal(row: PasswordToken | None, user: User | None, now: datetime) -> str | None:
    """Why the link may not set a password now, or None (the one rule for both callers)."""
    if row is None or user is None or row.used_at is not None or row.expires_at < now:
        return INVALID_LINK
    return None if user.is_active else "this account is deactivated"


async def change_own_password(
    desk: Desk, user: User, current: str, password: str, client: str
) -> dict[str, Any]:
    """A signed-in person sets their password (a customer who came in by code has none
    yet) or changes it, giving the current one when they have one; a wrong one counts as
    a failed login does (desk.logins), so a left-open session cannot be used to guess.
    Every session of the account ends, as after a reset: the caller starts a new one for
    the browser that asked. Audited; answers the account."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD} characters", field="password"
        )
    if user.password_hash is not None:
        await desk.logins.check(user.email, client)
        if not verify_password(user.password_hash, current):
            await desk.logins.failed(user.email, client)
            raise ValidationFailed("your current password is not right", field="current")
    async with desk.db.writer() as session:
        account = await session.get(User, user.id)
        if account is None or not account.is_active:
            raise InvalidToken("this account is deactivated", field="current")
        first = account.password_hash is None
        account.password_hash = hash_password(password)
        await end_every_session(session, account.id, "password changed")
        audit(
            session,
            account,
            "user.password_set" if first else "user.password_changed",
            f"user:{account.id}",
        )
        data = user_data(account)
    await desk.bus.publish(
        [AccessRevoked(user_id=data["id"], session_id=None, reason="the password was changed")]
    )
    return data


async def set_password(desk: Desk, token: str, password: str) -> dict[str, Any]:
    """Trade a link's token for a new password: once, before it expires, for an active
    account. Every earlier session of the account ends (a reset is often asked for because
    someone else got in), and its login lockout is lifted. Answers the account."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD} characters", field="password"
        )
    now = utcnow()
    async with desk.db.writer() as session:
        row, user = await _link(session, desk.settings.secret_key, token, lock=True)
        refused = _refusal(row, user, now)
        if refused is not None or row is None or user is None:
            raise InvalidToken(refused or INVALID_LINK, field="token")
        row.used_at = now
        user.password_hash = hash_password(password)
        await end_every_session(session, user.id, "password set")
        audit(session, user, f"user.password_set_by_{row.purpose}", f"user:{user.id}")
        data = user_data(user)
    await desk.logins.unlock(data["email"])
    await desk.bus.publish(
        [AccessRevoked(user_id=data["id"], session_id=None, reason="the password was changed")]
    )
    return data


async def unlock(desk: Desk, admin: User, user_id: int) -> dict[str, Any]:
    """Lift the failed-login lockout of an account (desk/auth/ratelimit.py), audited. The
    lockout per client address stays: it guards against guessing across accounts."""
    async with desk.db.writer() as session:
        user = await get_user(session, user_id)
        audit(session, admin, "user.unlocked", f"user:{user.id}")
        data = user_data(user)
    await desk.logins.unlock(data["email"])
    return data


async def locked_accounts(desk: Desk, emails: Iterable[str]) -> set[str]:
    """Which of `emails` are locked out by failed logins now (what `unlock` lifts); with
    Redis the count is the one every process shares."""
    wanted = sorted(set(emails))
    found = await asyncio.gather(*(desk.logins.is_locked(e) for e in wanted))
    return {e for e, locked in zip(wanted, found, strict=True) if locked}
