"""A new unassigned ticket, told to the members of its queue who asked for mail about those
(the /ws/notifications/ event needs nothing here: desk.auth.access.wants_new_ticket picks it
from the ticket.created event)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
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
    """Of the queue `queue_id`, or of every queue (None). One statement (mail intake reads
    them for every batch): each queue with its listeners, one without any in one row with
    none."""
    listening = and_(QueueMember.queue_id == Queue.id, QueueMember.mail_new_tickets.is_(True))
    staff = and_(
        User.id == QueueMember.user_id,
        User.is_active.is_(True),
        User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
    )
    query = (
        select(Queue.id, Queue.name, User)
        .outerjoin(QueueMember, listening)
        .outerjoin(User, staff)
        .order_by(User.id)
    )
    if queue_id is not None:
        query = query.where(Queue.id == queue_id)
    found = Listeners({}, {})
    for queue, name, person in await session.execute(query):
        found.names[queue] = name
        if person is not None:
            found.members.setdefault(queue, []).append(person)
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
