"""Sign-up by email one-time code: prove you own the address, then set a password. A customer
who already wrote in claims that account, so the tickets they opened by mail are theirs.

Codes and verification tokens are stored as HMAC-SHA256 under the secret key only: a
six-digit code's plain hash could be reversed by trying all million of them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.passwords import hash_password
from desk.auth.ratelimit import Limit
from desk.auth.sessions import start_session
from desk.config import Settings
from desk.context import Desk
from desk.errors import Conflict, NotAuthenticated, ValidationFailed
from desk.mail.compose import Outgoing
from desk.mail.headers import clean_header_text, is_plain_address
from desk.models import OtpCode, Role, User, utcnow
from desk.outbox import queue_mail
from desk.people import create_user, user_data

CODE_LIFETIME = timedelta(minutes=10)
VERIFIED_LIFETIME = timedelta(minutes=30)
MAX_TRIES = 5
PER_EMAIL = Limit(attempts=5, window_seconds=3600)
PER_ADDRESS = Limit(attempts=20, window_seconds=3600)


class WrongCode(ValidationFailed):
    code = "invalid_code"


def _digest(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def _email(raw: str) -> str:
    email = raw.strip().lower()
    if not is_plain_address(email):
        raise ValidationFailed("not an email address", field="email")
    return email


async def request_code(desk: Desk, raw_email: str, client: str) -> None:
    """Mail a fresh code; any earlier one for the address stops working. The answer is the
    same whether or not an account exists, so nobody learns who is a customer."""
    email = _email(raw_email)
    await desk.logins.spend(f"otp-email:{email}", PER_EMAIL, "codes for this address")
    await desk.logins.spend(f"otp-addr:{client}", PER_ADDRESS, "code requests")
    code = f"{secrets.randbelow(10**6):06d}"
    s = desk.settings
    async with desk.db.writer() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is not None and (user.is_staff or not user.is_active):
            return  # staff accounts are made by admins; a deactivated one stays closed
        session.add(
            OtpCode(
                email=email,
                code_hash=_digest(s.secret_key, code),
                expires_at=utcnow() + CODE_LIFETIME,
            )
        )
        out = Outgoing(
            to_address=email,
            to_name=user.name if user else "",
            from_name=s.desk_name,
            from_address=s.support_address,
            reply_to=s.support_address,
            subject=f"Your {s.desk_name} code: {code}",
            template="otp_code",
            context={
                "code": code,
                "minutes": int(CODE_LIFETIME.total_seconds() // 60),
                "desk_name": s.desk_name,
            },
            automatic=True,
            auto_submitted="auto-generated",
        )
        await queue_mail(session, out, ticket_id=None, kind="otp_code")


async def verify_code(desk: Desk, raw_email: str, code: str) -> str:
    """A verification token for register(), valid 30 minutes and once. Only the newest code
    counts, and it dies after 5 wrong tries."""
    email = _email(raw_email)
    s = desk.settings
    async with desk.db.writer() as session:
        row = await session.scalar(
            select(OtpCode)
            .where(OtpCode.email == email)
            .order_by(OtpCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None or row.expires_at < utcnow() or row.verification_hash is not None:
            problem = "no valid code for this address; request a new one"
        elif row.attempts >= MAX_TRIES:
            problem = "too many wrong tries; request a new code"
        elif not hmac.compare_digest(row.code_hash, _digest(s.secret_key, code.strip())):
            row.attempts += 1
            problem = f"wrong code ({MAX_TRIES - row.attempts} tries left)"
        else:
            token = secrets.token_urlsafe(32)
            row.verification_hash = _digest(s.secret_key, token)
            row.verified_until = utcnow() + VERIFIED_LIFETIME
            return token
    raise WrongCode(problem, field="code")  # after the commit: the failed try is counted


async def _use_token(session: AsyncSession, s: Settings, email: str, token: str) -> None:
    """Spend verification token `token` of `email` (once, while it lives)."""
    row = await session.scalar(
        select(OtpCode)
        .where(OtpCode.verification_hash == _digest(s.secret_key, token))
        .with_for_update()
    )
    if (
        row is None
        or row.email != email
        or row.used_at is not None
        or row.verified_until is None
        or row.verified_until < utcnow()
    ):
        raise ValidationFailed(
            "the verification token is not valid for this address", field="verification_token"
        )
    row.used_at = utcnow()


async def sign_in_with_code(desk: Desk, raw_email: str, code: str) -> User:
    """A customer's sign-in by the code mailed to them (request_code): the customer
    account of the address, made now if mail never made one. Staff sign in with their
    password only (a code would bypass it): NotAuthenticated, as for an inactive account.
    WrongCode (400) as verify_code raises it."""
    email = _email(raw_email)
    token = await verify_code(desk, email, code)
    async with desk.db.writer() as session:
        await _use_token(session, desk.settings, email, token)
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = await create_user(session, email=email, role=Role.CUSTOMER.value, password=None)
        if user.role != Role.CUSTOMER or not user.is_active:
            raise NotAuthenticated("sign in with your password")
        await session.flush()
    return user


async def register(
    desk: Desk, raw_email: str, password: str, name: str, token: str
) -> dict[str, Any]:
    """Create the customer account, or claim the one mail created; then log in."""
    email = _email(raw_email)
    if len(password) < 8:
        raise ValidationFailed("password must be at least 8 characters", field="password")
    s = desk.settings
    async with desk.db.writer() as session:
        await _use_token(session, s, email, token)
        user = await session.scalar(select(User).where(User.email == email))
        if user is not None and (user.password_hash is not None or user.role != Role.CUSTOMER):
            raise Conflict("this account is already registered; log in", field="email")
        if user is None:
            user = await create_user(
                session, email=email, role=Role.CUSTOMER.value, password=password, name=name
            )
        else:
            user.password_hash = hash_password(password)
            user.name = clean_header_text(name, limit=200) or user.name
        await session.flush()
        data = user_data(user)
    return {"user": data, **await start_session(desk.db, s, user)}
