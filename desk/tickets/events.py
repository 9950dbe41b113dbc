"""How tickets and messages look inside events (the same shape the API returns)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from desk.events import Event
from desk.events.types import (
    MESSAGE_CREATED,
    TICKET_ASSIGNED,
    TICKET_CREATED,
    TICKET_STATUS_CHANGED,
    TICKET_UPDATED,
)
from desk.models import Ticket, TicketMessage


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


TICKET_COLUMNS = ("id", "subject", "status", "priority", "customer_id", "assigned_agent_id",
                  "company_id", "linked_ticket_id", "created_at", "updated_at", "assigned_at",
                  "resolved_at", "archived_at")  # fmt: skip


def ticket_data(ticket: Ticket, tags: list[str] | None = None) -> dict[str, Any]:
    return ticket_fields({name: getattr(ticket, name) for name in TICKET_COLUMNS}, tags)


def ticket_fields(row: Mapping[str, Any], tags: list[str] | None = None) -> dict[str, Any]:
    """From any row with the tickets table's columns by name (list pages read rows)."""
    data = {
        "id": row["id"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "customer_id": row["customer_id"],
        "assigned_agent_id": row["assigned_agent_id"],
        "company_id": row["company_id"],
        "linked_ticket_id": row["linked_ticket_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "assigned_at": _when(row["assigned_at"]),
        "resolved_at": _when(row["resolved_at"]),
        "archived_at": _when(row["archived_at"]),
        "is_archived": row["archived_at"] is not None,
    }
    if tags is not None:
        data["tags"] = tags
    return data


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


def assigned(ticket: Ticket, old_agent_id: int | None) -> Event:
    return Event(
        type=TICKET_ASSIGNED,
        ticket_id=ticket.id,
        data={"ticket": ticket_data(ticket), "from": old_agent_id,
              "to": ticket.assigned_agent_id},
    )  # fmt: skip


def updated(ticket: Ticket, fields: list[str]) -> Event:
    return Event(
        type=TICKET_UPDATED, ticket_id=ticket.id, data={"ticket": ticket_data(ticket),
                                                        "fields": fields}
    )  # fmt: skip
