"""People: staff and customers an admin adds (mail creates customers in desk.processing)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.passwords import hash_password
from desk.errors import Conflict, PermissionDenied, ValidationFailed
from desk.mail.headers import clean_header_text, is_plain_address
from desk.models import Role, User


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


async def set_availability(session: AsyncSession, user: User, *, is_available: bool | None,
                           capacity: int | None) -> User:  # fmt: skip
    if not user.is_staff:
        raise PermissionDenied("only agents and admins have an availability")
    row = await session.get(User, user.id, with_for_update=True)
    assert row is not None
    if is_available is not None:
        row.is_available = is_available
    if capacity is not None:
        row.capacity = capacity
    return row
