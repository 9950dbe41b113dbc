"""How tickets and messages look inside events (the same shape the API returns)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from desk.events import Event
from desk.events.types import (
    MESSAGE_CREATED,
    TICKET_ASSIGNED,
    TICKET_CREATED,
    TICKET_STATUS_CHANGED,
    TICKET_UPDATED,
)
from desk.models import MessageKind, Ticket, TicketMessage


def _text_times(data: dict[str, Any]) -> dict[str, Any]:
    """Events travel as standard-library JSON (the bus, WebSockets, webhooks): their times
    are strings, in the very text the API's orjson writes for the same datetime."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


TICKET_COLUMNS = (
    "id",
    "subject",
    "status",
    "priority",
    "customer_id",
    "assigned_agent_id",
    "company_id",
    "linked_ticket_id",
    "created_at",
    "updated_at",
    "assigned_at",
    "resolved_at",
    "archived_at",
)


def ticket_data(ticket: Ticket, tags: list[str] | None = None) -> dict[str, Any]:
    return _text_times(
        ticket_fields({name: getattr(ticket, name) for name in TICKET_COLUMNS}, tags)
    )


def ticket_fields(
    row: Mapping[str, Any] | RowMapping, tags: list[str] | None = None
) -> dict[str, Any]:
    """From any row with the tickets table's columns by name (list pages read rows). Times
    stay datetimes: the API writes them with orjson, as ISO 8601 with the UTC offset."""
    data = {name: row[name] for name in TICKET_COLUMNS}
    data["is_archived"] = row["archived_at"] is not None
    if tags is not None:
        data["tags"] = tags
    return data


MESSAGE_COLUMNS = (
    "id",
    "ticket_id",
    "kind",
    "source",
    "author_id",
    "sender_email",
    "subject",
    "body_new",
    "body_text",
    "body_html",
    "message_id",
    "is_automatic",
    "thread_rule",
    "created_at",
)


def message_data(message: TicketMessage) -> dict[str, Any]:
    return _text_times(message_fields({name: getattr(message, name) for name in MESSAGE_COLUMNS}))


def message_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """From any row with the ticket_messages table's columns by name; times as datetimes."""
    data = {name: row[name] for name in MESSAGE_COLUMNS if name != "body_new"}
    data["is_internal"] = row["kind"] == MessageKind.NOTE
    data["body"] = row["body_new"] or row["body_text"]  # the new text, quotes left out
    return data


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
        data={"ticket": ticket_data(ticket), "from": old_agent_id, "to": ticket.assigned_agent_id},
    )


def updated(ticket: Ticket, fields: list[str]) -> Event:
    return Event(
        type=TICKET_UPDATED,
        ticket_id=ticket.id,
        data={"ticket": ticket_data(ticket), "fields": fields},
    )
