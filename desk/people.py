"""People: the customer accounts mail creates, and the staff an admin adds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.passwords import hash_password
from desk.errors import Conflict, ValidationFailed
from desk.mail.headers import clean_header_text, is_plain_address
from desk.models import Role, User


async def customer_for_address(session: AsyncSession, address: str, name: str) -> User:
    """The account of whoever wrote in, created without a password on first contact."""
    address = address.lower()
    user = await session.scalar(select(User).where(User.email == address))
    if user is not None:
        if not user.name and name:
            user.name = name
        return user
    try:
        async with session.begin_nested():
            user = User(email=address, name=name, role=Role.CUSTOMER.value)
            session.add(user)
    except IntegrityError:  # another process created it a moment ago
        user = await session.scalar(select(User).where(User.email == address))
        assert user is not None
    return user


async def add_user(
    session: AsyncSession, *, email: str, role: str, password: str | None, name: str = ""
) -> User:
    email = email.strip().lower()
    if not is_plain_address(email):
        raise ValidationFailed("not an email address", field="email")
    if role not in {r.value for r in Role}:
        raise ValidationFailed(f"role must be one of {[r.value for r in Role]}", field="role")
    if password is not None and len(password) < 8:
        raise ValidationFailed("password must be at least 8 characters", field="password")
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        raise Conflict(f"a user with email {email} already exists", field="email")
    user = User(
        email=email,
        role=role,
        name=clean_header_text(name, limit=200),
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user
