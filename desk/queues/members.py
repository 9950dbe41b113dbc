"""A queue's members and their roles. Queue admins manage users, managers and admins;
superadmins (and site admins) also superadmins. Every member sets their own notification
wishes and may leave."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue
from desk.auth.revocation import access_changed
from desk.context import Desk
from desk.db import Database
from desk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from desk.models import QueueMember, QueueRole, User
from desk.queues.service import get_queue, require_member, require_staff
from desk.tickets.workflow import release_tickets

PREFERENCES = ("notify_new_tickets", "mail_new_tickets")


def member_data(member: QueueMember, user: User) -> dict[str, Any]:
    return {
        "queue_id": member.queue_id,
        "user_id": user.id,
        "name": user.name,
        "email": user.email,
        "site_role": user.role,
        "role": member.role,
        "is_active": user.is_active,
        "is_available": user.is_available,
        "notify_new_tickets": member.notify_new_tickets,
        "mail_new_tickets": member.mail_new_tickets,
        "created_at": member.created_at,
    }


def _may_grant(actor: User, queue_id: int, *roles: str) -> None:
    """Managing members takes `manage`; anything touching a superadmin takes `own`."""
    right = "own" if QueueRole.SUPERADMIN in roles else "manage"
    if not may_in_queue(actor, queue_id, right):
        raise PermissionDenied(f"managing these members takes a queue {right} right")


async def list_members(db: Database, viewer: User, queue_id: int) -> list[dict[str, Any]]:
    require_staff(viewer)
    async with db.reader() as session:
        await get_queue(session, queue_id)
        require_member(viewer, queue_id)
        rows = await session.execute(
            select(QueueMember, User)
            .join(User, User.id == QueueMember.user_id)
            .where(QueueMember.queue_id == queue_id)
            .order_by(User.id)
        )
        return [member_data(m, u) for m, u in rows]


async def add_member(
    desk: Desk, actor: User, queue_id: int, user_id: int, role: str, prefs: dict[str, bool]
) -> dict[str, Any]:
    """A new member (their open sockets hear of it: desk.auth.revocation.access_changed)."""
    require_staff(actor)
    async with desk.db.writer() as session:
        await get_queue(session, queue_id)
        _may_grant(actor, queue_id, role)
        user = await session.get(User, user_id)
        if user is None or not user.is_active or not user.is_staff:
            raise ValidationFailed("members are active agents or admins", field="user_id")
        if await session.get(QueueMember, (queue_id, user_id)) is not None:
            raise Conflict(f"user {user_id} is a member already", field="user_id")
        member = QueueMember(queue_id=queue_id, user_id=user_id, role=role, **prefs)
        session.add(member)
        await session.flush()
        added = member_data(member, user)
    await access_changed(desk, [user_id], "added to a queue")
    return added


async def change_member(
    desk: Desk, actor: User, queue_id: int, user_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """A new role (by the rule of `_may_grant`, for the old role and the new) or the
    member's notification wishes (the member, or whoever manages members)."""
    require_staff(actor)
    async with desk.db.writer() as session:
        member = await _member(session, queue_id, user_id)
        if "role" in changes:  # checked even when unchanged: the answer never depends on it
            _may_grant(actor, queue_id, member.role, changes["role"])
            member.role = changes["role"]
        prefs = {k: v for k, v in changes.items() if k in PREFERENCES}
        if prefs and actor.id != user_id:
            _may_grant(actor, queue_id, member.role)
        for name, value in prefs.items():
            setattr(member, name, value)
        user = await session.get(User, user_id)
        assert user is not None
        changed = member_data(member, user)
    if "role" in changes:
        await access_changed(desk, [user_id], "their role in a queue changed")
    return changed


async def remove_member(desk: Desk, actor: User, queue_id: int, user_id: int) -> None:
    """Removed by whoever may grant the member's role, or leaving of their own accord.
    The unfinished tickets they hold in the queue are unassigned (an agent sees only
    tickets of their queues: desk.tickets.workflow.release_tickets). Their open sockets of
    the queue close (desk.auth.revocation.access_changed)."""
    require_staff(actor)
    async with desk.change() as (session, events):
        member = await _member(session, queue_id, user_id)
        if actor.id != user_id:
            _may_grant(actor, queue_id, member.role)
        await session.delete(member)
        await release_tickets(session, desk, events, user_id, actor, queue_id)
    await access_changed(desk, [user_id], "removed from a queue")


async def _member(session: AsyncSession, queue_id: int, user_id: int) -> QueueMember:
    await get_queue(session, queue_id)
    member = await session.get(QueueMember, (queue_id, user_id))
    if member is None:
        raise NotFound(f"user {user_id} is not a member of queue {queue_id}")
    return member
