"""The access rules of DESIGN.md in one place: every endpoint, socket and search uses these."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, true

from desk.models import MessageKind, Role, Ticket, TicketMessage, User


def ticket_filter(user: User) -> ColumnElement[bool]:
    """SQL condition for the tickets `user` may see."""
    if not user.is_active:
        return false()
    if user.role == Role.ADMIN:
        return true()
    if user.role == Role.AGENT:
        return or_(Ticket.assigned_agent_id == user.id, Ticket.assigned_agent_id.is_(None))
    if user.is_company_admin and user.company_id is not None:
        return or_(Ticket.customer_id == user.id, Ticket.company_id == user.company_id)
    return Ticket.customer_id == user.id


def can_see_ticket(user: User, ticket: Ticket) -> bool:
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.AGENT:
        return ticket.assigned_agent_id in (None, user.id)
    if user.is_company_admin and user.company_id is not None:
        return ticket.customer_id == user.id or ticket.company_id == user.company_id
    return ticket.customer_id == user.id


def message_filter(user: User) -> ColumnElement[bool]:
    """Customers never see internal notes; staff see every message of a visible ticket."""
    if user.is_staff:
        return true()
    return TicketMessage.kind != MessageKind.NOTE.value


def can_write_note(user: User) -> bool:
    return user.is_active and user.is_staff
