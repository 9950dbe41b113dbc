"""The access rules of DESIGN.md in one place: every endpoint, socket and search uses these."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, true

from desk.events.base import Event
from desk.events.chat import ChatMention
from desk.events.tickets import MessageCreated, TicketEvent
from desk.models import TEAM_ONLY, Role, Ticket, TicketMessage, User


def ticket_filter(user: User) -> ColumnElement[bool]:
    """SQL condition for the tickets `user` may see."""
    kind = visibility(user)
    if kind == "nobody":
        return false()
    if kind == "all":
        return true()
    if kind == "agent":
        return or_(Ticket.assigned_agent_id == user.id, Ticket.assigned_agent_id.is_(None))
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
        user, ticket.customer_id, ticket.assigned_agent_id, ticket.company_id
    )


def can_see_ticket_fields(
    user: User, customer_id: int, assigned_agent_id: int | None, company_id: int | None
) -> bool:
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.AGENT:
        return assigned_agent_id in (None, user.id)
    if user.is_company_admin and user.company_id is not None:
        return customer_id == user.id or company_id == user.company_id
    return customer_id == user.id


def can_see_event(user: User, event: TicketEvent) -> bool:
    """The REST rule applied to an event: its ticket as it is after the change, and never
    an internal note for a customer."""
    if not can_see_event_ticket(user, event):
        return False
    note = isinstance(event, MessageCreated) and event.message.is_internal
    return user.is_staff or not note


def can_see_event_ticket(user: User, event: TicketEvent) -> bool:
    """Whether `user` may see the event's ticket as it is after the change."""
    t = event.ticket
    return can_see_ticket_fields(user, t.customer_id, t.assigned_agent_id, t.company_id)


def is_own_event(user: User, event: Event) -> bool:
    """What /ws/notifications/ carries: for staff, what happens on tickets assigned to them
    (including being assigned one); for customers, what happens on their own tickets; and
    chat mentions of the user."""
    if isinstance(event, ChatMention):
        return user.is_active and event.user_id == user.id
    if not isinstance(event, TicketEvent) or not can_see_event(user, event):
        return False
    if user.is_staff:
        return event.ticket.assigned_agent_id == user.id
    return event.ticket.customer_id == user.id


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
