"""A new unassigned ticket, told to the members of its queue who asked for mail about those
(the /ws/notifications/ event needs nothing here: desk.auth.access.wants_new_ticket picks it
from the ticket.created event)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import Desk
from desk.models import Queue, QueueMember, Role, Ticket, User
from desk.tickets.notify import notify


async def tell_queue(session: AsyncSession, desk: Desk, ticket: Ticket, actor: User | None) -> int:
    """Queue the `new_ticket` mail to each active staff member of the ticket's queue with
    `mail_new_tickets` on (not to `actor`); nothing when the ticket already has an assignee.
    Returns how many mails were queued."""
    if ticket.assigned_agent_id is not None:
        return 0
    queue = await session.get(Queue, ticket.queue_id)
    if queue is None:
        return 0
    members = await session.scalars(
        select(User)
        .join(QueueMember, QueueMember.user_id == User.id)
        .where(
            QueueMember.queue_id == ticket.queue_id,
            QueueMember.mail_new_tickets.is_(True),
            User.is_active.is_(True),
            User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
        )
        .order_by(User.id)
    )
    told = 0
    for person in members:
        told += await notify(
            session, desk, ticket, person, "new_ticket", actor=actor, queue_name=queue.name
        )
    return told
