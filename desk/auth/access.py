"""The access rules of DESIGN.md in one place: every endpoint, socket and search uses these."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import ColumnElement, and_, false, or_, true

from desk.events.base import Event
from desk.events.chat import ChatMention
from desk.events.people import NotificationAdded
from desk.events.tickets import MessageCreated, TicketCreated, TicketEvent, TicketUpdated
from desk.models import (
    TEAM_ONLY,
    QueueRole,
    Role,
    Ticket,
    TicketMessage,
    User,
    Visibility,
)

# What each queue role may do in its queue (docs/design.md, Queues). Site admins may do all
# of it in every queue. Every member works the tickets they see (reply, note, status, take
# an unassigned ticket, hand one they hold to another member).
QUEUE_RANK = {QueueRole.USER: 1, QueueRole.MANAGER: 2, QueueRole.ADMIN: 3, QueueRole.SUPERADMIN: 4}
QUEUE_RIGHTS: dict[str, QueueRole] = {
    "work": QueueRole.USER,  # see tickets by the queue's visibility, work them
    "reassign": QueueRole.MANAGER,  # assign or unassign any ticket of the queue
    "move": QueueRole.MANAGER,  # move tickets to another queue they belong to
    "report": QueueRole.MANAGER,  # the queue's analytics
    "manage": QueueRole.ADMIN,  # settings and members (not superadmins)
    "own": QueueRole.SUPERADMIN,  # superadmins, deleting the queue
}


def queue_role(user: User, queue_id: int) -> QueueRole | None:
    """`user`'s role in the queue, None for non-members (and for customers)."""
    if not user.is_staff:
        return None
    for m in user.memberships:
        if m.queue_id == queue_id:
            return QueueRole(m.role)
    return None


def may_in_queue(user: User, queue_id: int, right: str) -> bool:
    """Whether `user` has `right` (a key of QUEUE_RIGHTS) in the queue."""
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    role = queue_role(user, queue_id)
    return role is not None and QUEUE_RANK[role] >= QUEUE_RANK[QUEUE_RIGHTS[right]]


def _queues_by_visibility(user: User) -> tuple[list[int], list[int]]:
    """The queues where `user` sees every ticket, and those where they see unassigned
    tickets and their own."""
    team: list[int] = []
    assigned: list[int] = []
    for m in user.memberships:
        (team if m.queue.visibility == Visibility.TEAM else assigned).append(m.queue_id)
    return sorted(team), sorted(assigned)


def queue_scope(user: User) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """What an agent's view depends on (for caches keyed by who sees the same tickets)."""
    team, assigned = _queues_by_visibility(user)
    return tuple(team), tuple(assigned)


def ticket_filter(user: User) -> ColumnElement[bool]:
    """SQL condition for the tickets `user` may see."""
    kind = visibility(user)
    if kind == "nobody":
        return false()
    if kind == "all":
        return true()
    if kind == "agent":
        team, assigned = _queues_by_visibility(user)
        return or_(
            Ticket.queue_id.in_(team),
            and_(
                Ticket.queue_id.in_(assigned),
                or_(Ticket.assigned_agent_id.is_(None), Ticket.assigned_agent_id == user.id),
            ),
        )
    if kind == "company":
        return or_(Ticket.customer_id == user.id, Ticket.company_id == user.company_id)
    return Ticket.customer_id == user.id


def visibility(user: User) -> str:
    """Which rule of DESIGN.md's Access applies to `user`."""
    if not user.is_active:
        return "nobody"
    if user.role == Role.ADMIN:
        return "all"
    if user.role == Role.AGENT:
        return "agent"
    if user.is_company_admin and user.company_id is not None:
        return "company"
    return "own"


def can_see_ticket(user: User, ticket: Ticket) -> bool:
    return can_see_ticket_fields(
        user, ticket.customer_id, ticket.assigned_agent_id, ticket.company_id, ticket.queue_id
    )


def can_see_ticket_fields(
    user: User,
    customer_id: int,
    assigned_agent_id: int | None,
    company_id: int | None,
    queue_id: int,
) -> bool:
    """The rule of `ticket_filter` for one ticket: an agent sees, in the queues they are a
    member of, every ticket (`team`) or the unassigned ones and those they hold
    (`assigned`); holding a ticket of a queue they are not in shows them nothing."""
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.AGENT:
        team, assigned = _queues_by_visibility(user)
        return queue_id in team or (queue_id in assigned and assigned_agent_id in (None, user.id))
    if user.is_company_admin and user.company_id is not None:
        return customer_id == user.id or company_id == user.company_id
    return customer_id == user.id


# Ticket fields for the team only (as in Zammad and FreeScout, tags are internal): not in
# a customer's ticket detail or list, nor named in the events a customer receives.
TEAM_ONLY_FIELDS = frozenset({"tags"})


def can_see_event(user: User, event: TicketEvent) -> bool:
    """The REST rule applied to an event: its ticket as it is after the change, never an
    internal note for a customer, nor a change of team-only fields alone."""
    if not can_see_event_ticket(user, event):
        return False
    if user.is_staff:
        return True
    if isinstance(event, TicketUpdated):
        return bool(set(event.fields) - TEAM_ONLY_FIELDS)
    return not (isinstance(event, MessageCreated) and event.message.is_internal)


def event_for(user: User, event: TicketEvent) -> TicketEvent:
    """The event as `user` receives it (one can_see_event allows): for a customer, a
    ticket update names only the fields they see."""
    if user.is_staff or not isinstance(event, TicketUpdated):
        return event
    shown = tuple(f for f in event.fields if f not in TEAM_ONLY_FIELDS)
    return event if shown == event.fields else replace(event, fields=shown)


def can_see_event_ticket(user: User, event: TicketEvent) -> bool:
    """Whether `user` may see the event's ticket as it is after the change."""
    t = event.ticket
    return can_see_ticket_fields(user, t.customer_id, t.assigned_agent_id, t.company_id, t.queue_id)


def is_own_event(user: User, event: Event) -> bool:
    """What /ws/notifications/ carries: for staff, what happens on tickets assigned to them
    (including being assigned one) and new unassigned tickets of their queues if they want
    those; for customers, what happens on their own tickets; and chat mentions of the
    user."""
    if isinstance(event, ChatMention):
        return user.is_active and event.user_id == user.id
    if isinstance(event, NotificationAdded):  # asked for with ?bell=1 (bell_or_own_event)
        return False
    if not isinstance(event, TicketEvent) or not can_see_event(user, event):
        return False
    if user.is_staff:
        return event.ticket.assigned_agent_id == user.id or wants_new_ticket(user, event)
    return event.ticket.customer_id == user.id


def bell_or_own_event(user: User, event: Event) -> bool:
    """What /ws/notifications/?bell=1 carries: is_own_event's, and the new lines of the
    user's bell (desk/notifications.py). Opt-in, so clients of the socket as it was hear
    exactly what they always did."""
    if isinstance(event, NotificationAdded):
        return user.is_active and event.user_id == user.id
    return is_own_event(user, event)


def is_inbox_event(user: User, event: Event) -> bool:
    """What /ws/inbox/ carries: every event of every ticket `user` may see (as it is after
    the change), so a list of tickets stays current; customers never see notes."""
    return isinstance(event, TicketEvent) and can_see_event(user, event)


def wants_new_ticket(user: User, event: TicketEvent) -> bool:
    """A new unassigned ticket, for a member of its queue who wants to hear of those."""
    if not isinstance(event, TicketCreated) or event.ticket.assigned_agent_id is not None:
        return False
    return any(
        m.queue_id == event.ticket.queue_id and m.notify_new_tickets for m in user.memberships
    )


def message_filter(user: User) -> ColumnElement[bool]:
    return messages_shown(staff=user.is_staff)


def messages_shown(*, staff: bool) -> ColumnElement[bool]:
    """Customers never see internal notes (nor delivery failures); staff see every message
    of a visible ticket."""
    if staff:
        return true()
    return TicketMessage.kind.not_in(TEAM_ONLY)


def can_write_note(user: User) -> bool:
    return user.is_active and user.is_staff
