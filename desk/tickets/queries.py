"""Tickets as a given person may see them: every read path applies desk.auth.access."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, message_filter, ticket_filter
from desk.db import Database
from desk.errors import NotFound
from desk.models import (
    Attachment,
    MessageKind,
    Priority,
    Role,
    Tag,
    Ticket,
    TicketMessage,
    TicketTag,
    User,
)
from desk.tickets.counts import CountCache
from desk.tickets.errors import TicketNotFound
from desk.tickets.events import message_data, ticket_data
from desk.tickets.history import changes

PRIORITY_RANK = case({p.value: i for i, p in enumerate(Priority)}, value=Ticket.priority)
ORDERINGS = {
    "created_at": Ticket.created_at.asc(),
    "-created_at": Ticket.created_at.desc(),
    "updated_at": Ticket.updated_at.asc(),
    "-updated_at": Ticket.updated_at.desc(),
    "id": Ticket.id.asc(),
    "-id": Ticket.id.desc(),
    "priority": PRIORITY_RANK.asc(),
    "-priority": PRIORITY_RANK.desc(),
    "status": Ticket.status.asc(),
    "-status": Ticket.status.desc(),
}


@dataclass(frozen=True)
class TicketFilter:
    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    assigned_agent: int | None = None
    unassigned: bool = False
    tag: str | None = None
    customer: int | None = None
    company: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    archived: str = "false"  # false: live tickets only; true: archived only; all
    ordering: str = "-updated_at"


def conditions(user: User, f: TicketFilter) -> list[ColumnElement[bool]]:
    where = [ticket_filter(user)]
    if f.status:
        where.append(Ticket.status.in_(f.status))
    if f.priority:
        where.append(Ticket.priority.in_(f.priority))
    if f.assigned_agent is not None:
        where.append(Ticket.assigned_agent_id == f.assigned_agent)
    if f.unassigned:
        where.append(Ticket.assigned_agent_id.is_(None))
    if f.customer is not None:
        where.append(Ticket.customer_id == f.customer)
    if f.company is not None:
        where.append(Ticket.company_id == f.company)
    if f.tag:
        tagged = select(TicketTag.ticket_id).join(Tag, Tag.id == TicketTag.tag_id)
        where.append(Ticket.id.in_(tagged.where(Tag.name == f.tag.strip().lower())))
    for column, after, before in (
        (Ticket.created_at, f.created_after, f.created_before),
        (Ticket.updated_at, f.updated_after, f.updated_before),
    ):
        if after is not None:
            where.append(column >= after)
        if before is not None:
            where.append(column < before)
    if f.archived == "false":
        where.append(Ticket.archived_at.is_(None))
    elif f.archived == "true":
        where.append(Ticket.archived_at.is_not(None))
    return where


@dataclass(frozen=True)
class Page:
    count: int
    results: list[dict[str, Any]]
    has_more: bool


def _scope(user: User) -> Hashable:
    """Who sees the same tickets: all admins; otherwise the person (and company, if they
    are its admin)."""
    if user.role == Role.ADMIN:
        return ("admin",)
    return (user.role, user.id, user.company_id if user.is_company_admin else None)


async def list_tickets(
    db: Database,
    user: User,
    f: TicketFilter,
    *,
    offset: int,
    limit: int,
    counts: CountCache | None = None,
) -> Page:
    """One page in two queries whatever its size: the count (unless remembered) and the
    tickets with their tags. One row past the page tells whether there is a next page."""
    where = conditions(user, f)
    key = (_scope(user), f)
    async with db.reader() as session:
        count = counts.get(key) if counts else None
        if count is None:
            count = int(
                await session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
            )
            if counts:
                counts.put(key, count)
        rows = (
            await session.execute(
                select(*Ticket.__table__.columns, TAG_LIST)
                .where(*where)
                .order_by(ORDERINGS[f.ordering], Ticket.id.desc())
                .offset(offset)
                .limit(limit + 1)
            )
        ).all()
    # Plain rows, not ORM objects: a page is read, never changed, and building 50 tracked
    # instances cost more than the query itself.
    results = [ticket_data(r, sorted(r.tag_list.split("\n")) if r.tag_list else []) for r in rows]
    return Page(count, results[:limit], len(rows) > limit)


# A ticket's tags in the same query as the ticket (one round trip for the whole page).
TAG_LIST = (
    select(func.aggregate_strings(Tag.name, "\n"))
    .join(TicketTag, TicketTag.tag_id == Tag.id)
    .where(TicketTag.ticket_id == Ticket.id)
    .scalar_subquery()
    .label("tag_list")
)


async def _tags_by_ticket(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(TicketTag.ticket_id, Tag.name)
        .join(Tag, Tag.id == TicketTag.tag_id)
        .where(TicketTag.ticket_id.in_(ids))
        .order_by(Tag.name)
    )
    found: dict[int, list[str]] = {}
    for ticket_id, name in rows.all():
        found.setdefault(ticket_id, []).append(name)
    return found


async def visible_ticket(session: AsyncSession, user: User, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not can_see_ticket(user, ticket):
        raise TicketNotFound(f"no ticket {ticket_id}")
    return ticket


async def ticket_history(db: Database, user: User, ticket_id: int) -> list[dict[str, Any]]:
    async with db.reader() as session:
        await visible_ticket(session, user, ticket_id)
        return await changes(session, ticket_id, user)


async def visible_attachment(db: Database, user: User, attachment_id: int) -> Attachment:
    """An attachment `user` may download: on a ticket they may see, and not on an internal
    note unless they are staff. Anything else is 404, whether or not it exists."""
    async with db.reader() as session:
        row = await session.execute(
            select(Attachment, TicketMessage.kind, Ticket)
            .join(TicketMessage, TicketMessage.id == Attachment.ticket_message_id)
            .join(Ticket, Ticket.id == TicketMessage.ticket_id)
            .where(Attachment.id == attachment_id)
        )
        found = row.first()
    if found is None:
        raise NotFound(f"no attachment {attachment_id}")
    attachment, kind, ticket = found
    if not can_see_ticket(user, ticket) or (kind == MessageKind.NOTE and not user.is_staff):
        raise NotFound(f"no attachment {attachment_id}")
    return attachment


async def ticket_detail(db: Database, user: User, ticket_id: int) -> dict[str, Any]:
    """The ticket with the messages and attachments `user` may see; 404 for the rest, so
    a customer cannot even learn that someone else's ticket exists."""
    async with db.reader() as session:
        ticket = await visible_ticket(session, user, ticket_id)
        tags = await _tags_by_ticket(session, [ticket.id])
        messages = list(
            await session.scalars(
                select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket_id, message_filter(user))
                .order_by(TicketMessage.id)
            )
        )
        attachments = await session.scalars(
            select(Attachment).where(Attachment.ticket_message_id.in_([m.id for m in messages]))
        )
        by_message: dict[int, list[dict[str, Any]]] = {}
        for a in attachments:
            by_message.setdefault(a.ticket_message_id, []).append(_attachment(a))
    detail = ticket_data(ticket, tags.get(ticket.id, []))
    detail["messages"] = [
        {**message_data(m), "attachments": by_message.get(m.id, [])} for m in messages
    ]
    return detail


def _attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "is_inline": a.is_inline,
        "content_id": a.content_id,
    }


async def user_by_email(db: Database, email: str) -> User | None:
    async with db.reader() as session:
        return await session.scalar(select(User).where(User.email == email.strip().lower()))
