"""The directories staff look people up in: colleagues (names, availability, queues) and
customers (with their companies). Staff only; customers see neither."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, true

from desk.db import Database, text_search
from desk.errors import PermissionDenied
from desk.models import Company, Queue, QueueMember, Role, User
from desk.queues.service import require_member


@dataclass(frozen=True)
class DirectoryQuery:
    search: str | None = None  # in name or email, case-insensitive
    queue: int | None = None  # staff: members of this queue only
    company: int | None = None  # customers: of this company only


def _require_staff(viewer: User) -> None:
    if not (viewer.is_active and viewer.is_staff):
        raise PermissionDenied("the directories are for agents and admins")


def _matching(search: str | None) -> list[ColumnElement[bool]]:
    if not search:
        return []
    return [text_search(search, User.email, User.name)]


async def staff(
    db: Database, viewer: User, q: DirectoryQuery, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Active agents and admins by name, each with their queues and role there. A queue's
    membership is shown by the rule of its members list (desk.queues.service
    .require_member): to its members and site admins only. `?queue=` of a queue the viewer
    is not in is NotFound (404) as its members list is, and each person's `queues` lists
    only the queues the viewer is in (site admins: all)."""
    _require_staff(viewer)
    if q.queue is not None:
        require_member(viewer, q.queue)
    where = [
        User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
        User.is_active,
        *_matching(q.search),
    ]
    if q.queue is not None:
        where.append(
            User.id.in_(select(QueueMember.user_id).where(QueueMember.queue_id == q.queue))
        )
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(*where))
        people = list(
            await session.scalars(
                select(User).where(*where).order_by(User.name, User.id).offset(offset).limit(limit)
            )
        )
        rows = await session.execute(
            select(QueueMember.user_id, Queue.id, Queue.name, QueueMember.role)
            .join(Queue, Queue.id == QueueMember.queue_id)
            .where(QueueMember.user_id.in_([p.id for p in people]), _shown_to(viewer))
            .order_by(Queue.id)
        )
    queues: dict[int, list[dict[str, Any]]] = {}
    for user_id, queue_id, name, role in rows:
        queues.setdefault(user_id, []).append({"id": queue_id, "name": name, "role": role})
    return int(count or 0), [
        {
            "id": p.id,
            "name": p.name,
            "email": p.email,
            "role": p.role,
            "is_available": p.is_available,
            "capacity": p.capacity,
            "queues": queues.get(p.id, []),
        }
        for p in people
    ]


def _shown_to(viewer: User) -> ColumnElement[bool]:
    """The memberships `viewer` may see: every one for a site admin, else those of the
    queues they are in."""
    if viewer.role == Role.ADMIN:
        return true()
    return QueueMember.queue_id.in_([m.queue_id for m in viewer.memberships])


async def customers(
    db: Database, viewer: User, q: DirectoryQuery, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Customers (active or not) by name, each with their company."""
    _require_staff(viewer)
    where = [User.role == Role.CUSTOMER.value, *_matching(q.search)]
    if q.company is not None:
        where.append(User.company_id == q.company)
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(*where))
        rows = await session.execute(
            select(User, Company)
            .outerjoin(Company, Company.id == User.company_id)
            .where(*where)
            .order_by(User.name, User.id)
            .offset(offset)
            .limit(limit)
        )
        found = list(rows)
    return int(count or 0), [
        {
            "id": u.id,
            "name": u.name,
            "email": u.email,
            "is_active": u.is_active,
            "has_password": u.password_hash is not None,
            "company": {"id": c.id, "name": c.name} if c else None,
            "is_company_admin": u.is_company_admin,
            "created_at": u.created_at,
        }
        for u, c in found
    ]
