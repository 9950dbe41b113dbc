"""How tickets and messages look inside events (the same shape the API returns)."""

from __future__ import annotations

from typing import Any

from desk.events import Event
from desk.events.types import MESSAGE_CREATED, TICKET_CREATED, TICKET_STATUS_CHANGED
from desk.models import Ticket, TicketMessage


def ticket_data(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "customer_id": ticket.customer_id,
        "assigned_agent_id": ticket.assigned_agent_id,
        "linked_ticket_id": ticket.linked_ticket_id,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "archived_at": ticket.archived_at.isoformat() if ticket.archived_at else None,
    }


def message_data(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "ticket_id": message.ticket_id,
        "kind": message.kind,
        "is_internal": message.is_internal,
        "source": message.source,
        "author_id": message.author_id,
        "sender_email": message.sender_email,
        "subject": message.subject,
        "body": message.body_new or message.body_text,
        "body_text": message.body_text,
        "body_html": message.body_html,
        "message_id": message.message_id,
        "is_automatic": message.is_automatic,
        "thread_rule": message.thread_rule,
        "created_at": message.created_at.isoformat(),
    }


def ticket_created(ticket: Ticket) -> Event:
    return Event(type=TICKET_CREATED, ticket_id=ticket.id, data={"ticket": ticket_data(ticket)})


def message_created(ticket: Ticket, message: TicketMessage) -> Event:
    return Event(
        type=MESSAGE_CREATED,
        ticket_id=ticket.id,
        data={"ticket": ticket_data(ticket), "message": message_data(message)},
    )


def status_changed(ticket: Ticket, old: str) -> Event:
    return Event(
        type=TICKET_STATUS_CHANGED,
        ticket_id=ticket.id,
        data={"ticket": ticket_data(ticket), "from": old, "to": ticket.status},
    )
