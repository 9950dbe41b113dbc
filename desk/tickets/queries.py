"""Tickets as a given person may see them: every read path applies desk.auth.access."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import LRUCache

from desk.auth.access import (
    can_see_ticket,
    can_see_ticket_fields,
    messages_shown,
    ticket_filter,
    viewer_params,
    visibility,
)
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
from desk.tickets.events import message_fields, ticket_fields
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
    """The list's filters, their values as named parameters (`filter_params`)."""
    where = [ticket_filter(user)]
    active = _active(f)
    for name, column in (("status", Ticket.status), ("priority", Ticket.priority)):
        if name in active:
            where.append(column.in_(bindparam(name, getattr(f, name), expanding=True)))
    for name, column in EQUALS.items():
        if name in active:
            where.append(column == bindparam(name, getattr(f, name)))
    if "unassigned" in active:
        where.append(Ticket.assigned_agent_id.is_(None))
    if "tag" in active:
        tagged = select(TicketTag.ticket_id).join(Tag, Tag.id == TicketTag.tag_id)
        where.append(Ticket.id.in_(tagged.where(Tag.name == bindparam("tag", _tag(f)))))
    for name, column in RANGES.items():
        if name in active:
            bound = bindparam(name, getattr(f, name), type_=column.type)
            where.append(column >= bound if name.endswith("_after") else column < bound)
    if f.archived == "false":
        where.append(Ticket.archived_at.is_(None))
    elif f.archived == "true":
        where.append(Ticket.archived_at.is_not(None))
    return where


EQUALS = {
    "assigned_agent": Ticket.assigned_agent_id,
    "customer": Ticket.customer_id,
    "company": Ticket.company_id,
}
RANGES = {
    "created_after": Ticket.created_at,
    "created_before": Ticket.created_at,
    "updated_after": Ticket.updated_at,
    "updated_before": Ticket.updated_at,
}
OPTIONAL = (*EQUALS, *RANGES)


def _active(f: TicketFilter) -> frozenset[str]:
    """The filters in effect: the one decision both the SQL and its shape follow."""
    on = {name for name in OPTIONAL if getattr(f, name) is not None}
    on.update(name for name in ("status", "priority", "unassigned", "tag") if getattr(f, name))
    return frozenset(on)


def _tag(f: TicketFilter) -> str | None:
    return f.tag.strip().lower() if f.tag else None


def filter_params(user: User, f: TicketFilter) -> dict[str, Any]:
    """The values `conditions` names, for a statement built once for the filter's shape."""
    return {
        **viewer_params(user),
        "status": f.status,
        "priority": f.priority,
        "tag": _tag(f),
        **{name: getattr(f, name) for name in OPTIONAL},
    }


def _shape(user: User, f: TicketFilter) -> Hashable:
    """What decides a list statement's SQL: the viewer's kind and the filters in effect."""
    return (visibility(user), f.ordering, f.archived, _active(f))


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
    key = (_scope(user), f)
    statements = _statements(user, f, limit + 1)
    params = {**filter_params(user, f), "offset": offset}
    count = counts.get(key) if counts else None
    if count is None:
        count = int((await db.fetch(statements.count, params))[0]["n"])
        if counts:
            counts.put(key, count)
    rows = await db.fetch(statements.page, params)
    results = [ticket_fields(r, _tags(r["tag_list"])) for r in rows[:limit]]
    return Page(count, results, len(rows) > limit)


@dataclass(frozen=True)
class _ListStatements:
    count: Select[Any]
    page: Select[Any]


# Bounded: a caller choosing unusual filters and page sizes only evicts older shapes.
_STATEMENTS: LRUCache[Hashable, _ListStatements] = LRUCache(500)


def _statements(user: User, f: TicketFilter, limit: int) -> _ListStatements:
    """The count and page statements for a shape, built on its first use. Each is built from
    one caller's filter, but every value in it is a named parameter that each call passes
    anew (Database.fetch insists), so no caller's values outlive their request. The page
    size is written into the SQL: with a known LIMIT, PostgreSQL's plan made once for the
    statement fits every call (Database.fetch), where an unknown one made it read the
    whole table."""
    shape = (_shape(user, f), limit)
    found = _STATEMENTS.get(shape)
    if found is None:
        where = conditions(user, f)
        order = (ORDERINGS[f.ordering], Ticket.id.desc())
        # The page's ids first, then only their rows and tags. Choosing the ids needs only
        # the order and filter columns, which the live-list index holds: skipping to page
        # 20 then walks index entries, not a thousand table rows.
        ids = (
            select(Ticket.id)
            .where(*where)
            .order_by(*order)
            .offset(bindparam("offset"))
            .limit(literal_column(str(limit), Integer))
        )
        if _broad_live_view(user, f):
            # SQLite would fetch every match through the assignee index and sort them all
            # (33,000 for an agent of a large desk, 30 ms); walking this index is 0.2 ms.
            ids = ids.with_hint(Ticket, "INDEXED BY ix_tickets_live_updated", "sqlite")
        ids = ids.subquery()
        found = _STATEMENTS[shape] = _ListStatements(
            count=select(func.count().label("n")).select_from(Ticket).where(*where),
            page=select(*Ticket.__table__.columns, TAG_LIST)
            .join(ids, ids.c.id == Ticket.id)
            .order_by(*order),
        )
    return found


def _broad_live_view(user: User, f: TicketFilter) -> bool:
    """A staff view of live tickets by last change, not narrowed to one customer, company,
    assignee or tag: its page is found by walking the live-list index."""
    narrowing = {"customer", "company", "assigned_agent", "tag"}
    return (
        f.archived == "false"
        and f.ordering.lstrip("-") == "updated_at"
        and visibility(user) in ("agent", "all")
        and not _active(f) & narrowing
    )


# A ticket's tags in the same query as the ticket (one round trip for the whole page).
TAG_LIST = (
    select(func.aggregate_strings(Tag.name, "\n"))
    .join(TicketTag, TicketTag.tag_id == Tag.id)
    .where(TicketTag.ticket_id == Ticket.id)
    .scalar_subquery()
    .label("tag_list")
)


TICKET_WITH_TAGS = select(*Ticket.__table__.columns, TAG_LIST).where(
    Ticket.id == bindparam("ticket_id")
)


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
    params = {"ticket_id": ticket_id}
    found = await db.fetch(TICKET_WITH_TAGS, params)
    if not found or not can_see_ticket_fields(
        user, found[0]["customer_id"], found[0]["assigned_agent_id"], found[0]["company_id"]
    ):
        raise TicketNotFound(f"no ticket {ticket_id}")
    shown = _shown_messages(user.is_staff)
    messages = await db.fetch(shown.messages, params)
    by_message: dict[int, list[dict[str, Any]]] = {}
    for a in await db.fetch(shown.attachments, params):
        by_message.setdefault(a["ticket_message_id"], []).append(_attachment(a))
    detail = ticket_fields(found[0], _tags(found[0]["tag_list"]))
    detail["messages"] = [
        {**message_fields(m), "attachments": by_message.get(m["id"], [])} for m in messages
    ]
    return detail


@dataclass(frozen=True)
class _Shown:
    messages: Select[Any]
    attachments: Select[Any]


@cache
def _shown_messages(staff: bool) -> _Shown:
    """A ticket's messages and attachments as staff or a customer may see them."""
    visible = messages_shown(staff=staff)
    return _Shown(
        messages=select(*TicketMessage.__table__.columns)
        .where(TicketMessage.ticket_id == bindparam("ticket_id"), visible)
        .order_by(TicketMessage.id),
        attachments=select(*Attachment.__table__.columns)
        .join(TicketMessage, TicketMessage.id == Attachment.ticket_message_id)
        .where(TicketMessage.ticket_id == bindparam("ticket_id"), visible)
        .order_by(Attachment.id),
    )


def _tags(tag_list: str | None) -> list[str]:
    return sorted(tag_list.split("\n")) if tag_list else []


def _attachment(a: Mapping[str, Any]) -> dict[str, Any]:
    return {name: a[name] for name in ATTACHMENT_FIELDS}


ATTACHMENT_FIELDS = ("id", "filename", "content_type", "size", "is_inline", "content_id")


async def user_by_email(db: Database, email: str) -> User | None:
    async with db.reader() as session:
        return await session.scalar(select(User).where(User.email == email.strip().lower()))
