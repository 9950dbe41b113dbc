"""People: staff and customers an admin adds (mail creates customers in desk.processing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.audit import audit
from desk.auth.passwords import hash_password
from desk.auth.revocation import access_changed, account_deactivated
from desk.auth.sessions import end_every_session
from desk.companies import companies_for, get_company
from desk.context import Desk
from desk.db import Database, text_search
from desk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, refuse_nulls
from desk.events.people import AgentAvailability
from desk.mail.headers import clean_header_text, is_plain_address
from desk.models import Role, Ticket, User
from desk.queues.routing import join_default_queue
from desk.tickets.workflow import release_tickets


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
    await join_default_queue(session, user)
    return user


async def set_availability(
    desk: Desk, user: User, *, is_available: bool | None, capacity: int | None
) -> User:
    """The change goes out as an `agent.availability` event: auto-assignment, wherever it
    runs, hears of it and hands waiting tickets to an agent who just became available."""
    if not user.is_staff:
        raise PermissionDenied("only agents and admins have an availability")
    async with desk.change() as (session, events):
        row = await session.get(User, user.id, with_for_update=True)
        assert row is not None
        if is_available is not None:
            row.is_available = is_available
        if capacity is not None:
            row.capacity = capacity
        events.append(
            AgentAvailability(user_id=row.id, is_available=row.is_available, capacity=row.capacity)
        )
    return row


def user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "has_password": user.password_hash is not None,
        "company_id": user.company_id,
        "is_company_admin": user.is_company_admin,
        "is_available": user.is_available,
        "capacity": user.capacity,
        "notify_on_reply": user.notify_on_reply,
        "created_at": user.created_at.isoformat(),
    }


@dataclass(frozen=True)
class UserQuery:
    role: str | None = None
    is_active: bool | None = None
    company_id: int | None = None
    search: str | None = None


async def list_users(
    db: Database, q: UserQuery, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    where = []
    if q.role:
        where.append(User.role == q.role)
    if q.is_active is not None:
        where.append(User.is_active.is_(q.is_active))
    if q.company_id is not None:
        where.append(User.company_id == q.company_id)
    if q.search:
        where.append(text_search(q.search, User.email, User.name))
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(*where))
        rows = await session.scalars(
            select(User).where(*where).order_by(User.id).offset(offset).limit(limit)
        )
        return int(count or 0), [user_data(u) for u in rows]


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    role: str,
    password: str | None,
    name: str = "",
    actor: User | None = None,
) -> User:
    """An admin's new account (`actor`: the admin, audited), or one made by signing up; a
    customer joins the company their domain maps to."""
    user = await add_user(session, email=email, role=role, password=password, name=name)
    if user.role == Role.CUSTOMER:
        user.company_id = (await companies_for(session, {user.email})).get(user.email)
    if actor is not None:
        await session.flush()  # the new id, for the entry
        audit(session, actor, "user.created", f"user:{user.id}", {"role": user.role})
    return user


# Fields an edit may leave out but not set to null (company_id null leaves the company,
# password null removes the password, name null empties it).
NOT_NULL = frozenset(
    {"role", "is_active", "is_company_admin", "is_available", "capacity", "notify_on_reply"}
)

# The fields of an account that decide what it may see (desk.auth.access).
ACCESS_FIELDS = frozenset({"role", "is_company_admin", "company_id"})


async def change_user(
    desk: Desk, admin: User, user_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """An admin's edit (edit_user), committed; when it deactivated the account or set its
    password, every session of it ended with it and its open sockets close at once
    everywhere (desk.auth.revocation); a new role or company is said to its open sockets
    (access_changed). Answers the user's data after the edit."""
    ending = _ends_sessions(changes)  # before edit_user takes the password out
    regrouped = not ACCESS_FIELDS.isdisjoint(changes)
    async with desk.change() as (session, events):
        user = await edit_user(session, admin, user_id, changes)
        await session.flush()
        if ending is not None:
            await end_every_session(session, user.id, ending)
        if {"role", "is_active"} & set(changes) and not (user.is_active and user.is_staff):
            # works in no queue now: gives up the tickets held (like a removed member)
            await release_tickets(session, desk, events, user.id, admin)
        data = user_data(user)
    if ending is not None:
        await account_deactivated(desk, data["id"], ending)
    if regrouped:
        await access_changed(desk, [data["id"]], "their role or company changed")
    return data


def _ends_sessions(changes: dict[str, Any]) -> str | None:
    """Why an edit ends every session of the account, if it does: a deactivation (or the
    tokens from before would work again once it is active again), a new password (or
    whoever had the old one stays in)."""
    if changes.get("is_active") is False:
        return "this account is not active"
    if "password" in changes:
        return "the password was changed"
    return None


async def edit_user(
    session: AsyncSession, admin: User, user_id: int, changes: dict[str, Any]
) -> User:
    """Apply an admin's edit. Deactivating takes effect at once: every request re-reads
    the account (web.auth), so the user's tokens stop working on the next call."""
    user = await get_user(session, user_id)
    refuse_nulls(changes, sorted(NOT_NULL))
    fields = set(changes)
    if user.id == admin.id and (
        changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        raise Conflict("an admin cannot deactivate or demote themselves", field="is_active")
    if "password" in changes:
        password = changes.pop("password")
        if password is not None and len(password) < 8:
            raise ValidationFailed("password must be at least 8 characters", field="password")
        user.password_hash = hash_password(password) if password else None
    if "name" in changes:
        changes["name"] = clean_header_text(changes["name"] or "", limit=200)
    if changes.get("company_id") is not None:
        await get_company(session, changes["company_id"])
    for name, value in changes.items():
        setattr(user, name, value)
    if user.is_company_admin and user.company_id is None:
        raise ValidationFailed("a company admin needs a company", field="is_company_admin")
    if user.role != Role.CUSTOMER and (user.company_id or user.is_company_admin):
        raise ValidationFailed("only customers belong to companies", field="company_id")
    if changes.get("role") in (Role.AGENT, Role.ADMIN):
        await join_default_queue(session, user)
    if "company_id" in changes:
        await session.execute(
            update(Ticket).where(Ticket.customer_id == user.id).values(company_id=user.company_id)
        )
    # The fields changed, never their values (one is the password).
    audit(session, admin, "user.edited", f"user:{user.id}", {"fields": sorted(fields)})
    return user


async def customer_for_email(session: AsyncSession, email: str, name: str = "") -> User:
    """The customer account for `email`, created without a password (claimable later by
    one-time code) when it is the first time we hear of them."""
    email = email.strip().lower()
    user = await session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user
    return await create_user(
        session, email=email, role=Role.CUSTOMER.value, password=None, name=name
    )


async def update_me(
    session: AsyncSession, user: User, *, name: str | None, notify_on_reply: bool | None
) -> User:
    row = await get_user(session, user.id)
    if name is not None:
        row.name = clean_header_text(name, limit=200)
    if notify_on_reply is not None:
        if not row.is_staff:
            raise PermissionDenied("only agents and admins get reply notifications")
        row.notify_on_reply = notify_on_reply
    await session.flush()
    return row
