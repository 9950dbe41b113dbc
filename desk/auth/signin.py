"""Signing in with a password: one rule for the API's token endpoint and the sign-in page."""

from __future__ import annotations

from desk.auth.passwords import verify_password
from desk.context import Desk
from desk.errors import NotAuthenticated
from desk.models import User
from desk.tickets.queries import user_by_email


async def password_sign_in(desk: Desk, login: str, password: str, address: str) -> User:
    """The active account `login` (an email) whose password is `password`. Failures count
    against the account and the client `address` (desk.auth.ratelimit: TooManyAttempts,
    429, once over the limit); a wrong address, password or an inactive account all answer
    the same NotAuthenticated, so the answer does not tell which accounts exist."""
    await desk.logins.check(login, address)
    user = await user_by_email(desk.db, login)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        await desk.logins.failed(login, address)
        raise NotAuthenticated("wrong email or password")
    await desk.logins.succeeded(login, address)
    return user
