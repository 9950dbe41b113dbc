"""The ticket list as CSV rows (S3's staff export): the same filters and order as the list
(desk.tickets.queries.TicketFilter), the same access rule; staff only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from desk.auth.access import ticket_filter
from desk.db import Database
from desk.exports import Export, Row, export
from desk.models import Company, Queue, Ticket, User
from desk.tickets.queries import TAG_LIST, TIME_SPENT, TicketFilter, matching_ids
from desk.time_entries import require_staff

COLUMNS = (
    "id",
    "subject",
    "status",
    "priority",
    "queue_id",
    "queue",
    "customer_id",
    "customer_email",
    "customer_name",
    "company",
    "assigned_agent_id",
    "assigned_agent_email",
    "assigned_agent_name",
    "tags",
    "created_at",
    "updated_at",
    "assigned_at",
    "resolved_at",
    "archived_at",
    "time_spent_minutes",
)


async def ticket_export(db: Database, user: User, f: TicketFilter) -> Export:
    """PermissionDenied for customers; ValidationFailed if too many tickets match."""
    require_staff(user, "ticket exports")
    return await export(db, matching_ids(user, f), COLUMNS, lambda ids: _rows(user, ids), _shape)


def _rows(user: User, ids: Sequence[int]) -> Select[Any]:
    customer, agent = aliased(User), aliased(User)
    columns: list[Any] = [
        Ticket.id,
        Ticket.subject,
        Ticket.status,
        Ticket.priority,
        Ticket.queue_id,
        Queue.name,
        Ticket.customer_id,
        customer.email,
        customer.name,
        Company.name,
        Ticket.assigned_agent_id,
        agent.email,
        agent.name,
        TAG_LIST,
        Ticket.created_at,
        Ticket.updated_at,
        Ticket.assigned_at,
        Ticket.resolved_at,
        Ticket.archived_at,
        TIME_SPENT,
    ]
    return (
        select(*columns)
        .join(Queue, Queue.id == Ticket.queue_id)
        .join(customer, customer.id == Ticket.customer_id)
        .outerjoin(Company, Company.id == Ticket.company_id)
        .outerjoin(agent, agent.id == Ticket.assigned_agent_id)
        .where(Ticket.id.in_(ids), ticket_filter(user))
    )


def _shape(row: Any) -> Row:
    cells = list(row)
    tags = cells[13]
    cells[13] = ", ".join(sorted(tags.split("\n"))) if tags else ""
    return tuple(c.isoformat() if isinstance(c, datetime) else c for c in cells)
