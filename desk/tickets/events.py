"""How tickets and messages look in API answers and inside events (the same shape), and the
ticket events the ticket service emits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from desk.events.tickets import (
    MessageCreated,
    MessageView,
    StatusChanged,
    TicketAssigned,
    TicketCreated,
    TicketUpdated,
    TicketView,
)
from desk.models import TEAM_ONLY, Ticket, TicketMessage


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
    "queue_id",
)


def ticket_fields(
    row: Mapping[str, Any] | RowMapping, tags: list[str] | None = None
) -> dict[str, Any]:
    """From any row with the tickets table's columns by name (list pages read rows). Times
    stay datetimes: the API writes them with orjson, as ISO 8601 with the UTC offset."""
    data = {name: row[name] for name in TICKET_COLUMNS}
    data["is_archived"] = row["archived_at"] is not None
    data["queue_id"] = data.pop("queue_id")  # after is_archived, where events have it
    data["queue"] = row["queue_id"]  # S0's name for its project, beside queue_id
    with_seed_names(data, TICKET_SEED_NAMES)
    if "board_column" in row:  # staff reads (desk.tickets.queries.board_column)
        data["column_id"] = row["board_column"]
        data["column"] = row["board_column"]  # S0's Ticket.column
    if tags is not None:
        data["tags"] = tags
    return data


# S1's front end reads its Django models' names (DRF sends a foreign key `customer` as its
# id): the same values again under those names, next to ours (API.md: add, never rename).
TICKET_SEED_NAMES = {"customer": "customer_id", "assigned_agent": "assigned_agent_id"}
MESSAGE_SEED_NAMES = {"author": "author_id", "ticket": "ticket_id"}


def with_seed_names(data: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """`data` with each seed name set to the value of our field it stands for."""
    for seed, ours in names.items():
        data[seed] = data[ours]
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


def message_fields(row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """From any row with the ticket_messages table's columns by name; times as datetimes."""
    data = {name: row[name] for name in MESSAGE_COLUMNS if name != "body_new"}
    data["is_internal"] = row["kind"] in TEAM_ONLY
    data["body"] = row["body_new"] or row["body_text"]  # the new text, quotes left out
    return with_seed_names(data, MESSAGE_SEED_NAMES)


def ticket_view(ticket: Ticket) -> TicketView:
    """The ticket as events carry it: the API's fields (ticket_fields'), typed."""
    return TicketView(
        id=ticket.id,
        subject=ticket.subject,
        status=str(ticket.status),
        priority=str(ticket.priority),
        customer_id=ticket.customer_id,
        assigned_agent_id=ticket.assigned_agent_id,
        company_id=ticket.company_id,
        linked_ticket_id=ticket.linked_ticket_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        assigned_at=ticket.assigned_at,
        resolved_at=ticket.resolved_at,
        archived_at=ticket.archived_at,
        queue_id=ticket.queue_id,
    )


def message_view(message: TicketMessage) -> MessageView:
    """The message as events carry it: the API's fields (message_data's), typed."""
    return MessageView(
        id=message.id,
        ticket_id=message.ticket_id,
        kind=str(message.kind),
        source=message.source,
        author_id=message.author_id,
        sender_email=message.sender_email,
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        message_id=message.message_id,
        is_automatic=message.is_automatic,
        thread_rule=message.thread_rule,
        created_at=message.created_at,
        is_internal=message.kind in TEAM_ONLY,
        body=message.body_new or message.body_text,
    )


# The events of desk.tickets.service and workflow; each is built after the change's flush
# (Desk.change), when the ticket and message have their ids.


def ticket_created(ticket: Ticket) -> TicketCreated:
    return TicketCreated(ticket=ticket_view(ticket))


def message_created(ticket: Ticket, message: TicketMessage) -> MessageCreated:
    return MessageCreated(ticket=ticket_view(ticket), message=message_view(message))


def status_changed(ticket: Ticket, old: str) -> StatusChanged:
    return StatusChanged(ticket=ticket_view(ticket), old=str(old), new=str(ticket.status))


def assigned(ticket: Ticket, old_agent_id: int | None) -> TicketAssigned:
    return TicketAssigned(
        ticket=ticket_view(ticket), old_agent_id=old_agent_id, new_agent_id=ticket.assigned_agent_id
    )


def updated(ticket: Ticket, fields: list[str]) -> TicketUpdated:
    return TicketUpdated(ticket=ticket_view(ticket), fields=tuple(fields))
