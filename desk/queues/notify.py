"""A new unassigned ticket, told to the members of its queue who asked for mail about those
(the /ws/notifications/ event needs nothing here: desk.auth.access.wants_new_ticket picks it
from the ticket.created event)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import Desk
from desk.models import Queue, QueueMember, Role, Ticket, User
from desk.queues.routing import QueueRoutes
from desk.tickets.notify import notify


@dataclass(frozen=True)
class Listeners:
    """Who hears of new tickets by mail, by queue id: each queue's name and its active staff
    members with `mail_new_tickets` on (by user id). A few rows: mail intake reads them
    once per batch (desk/preload.py), the API once per ticket it opens."""

    names: dict[int, str]
    members: dict[int, list[User]]


async def load_listeners(session: AsyncSession, queue_id: int | None = None) -> Listeners:
    """Of the queue `queue_id`, or of every queue (None)."""
    queues = select(Queue.id, Queue.name)
    members = (
        select(QueueMember.queue_id, User)
        .join(User, QueueMember.user_id == User.id)
        .where(
            QueueMember.mail_new_tickets.is_(True),
            User.is_active.is_(True),
            User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
        )
        .order_by(User.id)
    )
    if queue_id is not None:
        queues = queues.where(Queue.id == queue_id)
        members = members.where(QueueMember.queue_id == queue_id)
    found = Listeners(dict((await session.execute(queues)).all()), {})
    for member_of, person in await session.execute(members):
        found.members.setdefault(member_of, []).append(person)
    return found


async def tell_queue(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    actor: User | None,
    listeners: Listeners | None = None,
    routes: QueueRoutes | None = None,
) -> int:
    """Queue the `new_ticket` mail to each active staff member of the ticket's queue with
    `mail_new_tickets` on (not to `actor`); nothing when the ticket already has an assignee.
    `listeners`: when the caller read them already for a batch; else read now (`routes`:
    as for `notify`). Returns how many mails were queued."""
    if ticket.assigned_agent_id is not None:
        return 0
    if listeners is None:
        listeners = await load_listeners(session, ticket.queue_id)
    name = listeners.names.get(ticket.queue_id)
    if name is None:
        return 0
    told = 0
    for person in listeners.members.get(ticket.queue_id, []):
        told += await notify(
            session, desk, ticket, person, "new_ticket", actor=actor, routes=routes, queue_name=name
        )
    return told
