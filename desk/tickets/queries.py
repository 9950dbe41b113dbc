"""Tickets as a given person may see them: every read path applies desk.auth.access."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    UnaryExpression,
    and_,
    bindparam,
    case,
    false,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from desk.auth.access import (
    can_see_ticket,
    can_see_ticket_fields,
    messages_shown,
    queue_scope,
    ticket_filter,
    visibility,
)
from desk.board.card_column import card_column, in_column
from desk.db import Database
from desk.errors import NotFound
from desk.models import (
    TEAM_ONLY,
    Attachment,
    Priority,
    Role,
    Tag,
    Ticket,
    TicketMerge,
    TicketMessage,
    TicketParticipant,
    TicketTag,
    TimeEntry,
    User,
)
from desk.tickets.counts import CountCache
from desk.tickets.errors import TicketNotFound
from desk.tickets.events import message_fields, ticket_fields
from desk.tickets.history import changes

PRIORITY_RANK = case({p.value: i for i, p in enumerate(Priority)}, value=Ticket.priority)
ORDERINGS: dict[str, UnaryExpression[Any]] = {
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
    """The ticket list's query model: what the caller asked for, each filter off when empty.
    A new filter is a field here and its condition in `conditions`."""

    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    assigned_agent: int | None = None
    unassigned: bool = False
    tag: str | None = None
    customer: int | None = None
    company: int | None = None
    queue: int | None = None
    column: int | None = None  # a board column's id: the tickets whose card is in it (staff)
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    archived: str = "false"  # false: live tickets only; true: archived only; all
    ordering: str = "-updated_at"


def conditions(user: User, f: TicketFilter) -> list[ColumnElement[bool]]:
    """What `user` may see, narrowed by the filters in effect (the list and search share
    them)."""
    where = [ticket_filter(user)]
    if f.status:
        where.append(Ticket.status.in_(f.status))
    if f.priority:
        where.append(Ticket.priority.in_(f.priority))
    if f.assigned_agent is not None:
        where.append(Ticket.assigned_agent_id == f.assigned_agent)
    if f.unassigned:
        where.append(Ticket.assigned_agent_id.is_(None))
    if f.tag:
        tagged = select(TicketTag.ticket_id).join(Tag, Tag.id == TicketTag.tag_id)
        where.append(Ticket.id.in_(tagged.where(Tag.name == f.tag.strip().lower())))
    if f.customer is not None:
        where.append(Ticket.customer_id == f.customer)
    if f.company is not None:
        where.append(Ticket.company_id == f.company)
    if f.queue is not None:
        where.append(Ticket.queue_id == f.queue)
    if f.column is not None:
        # The board is the team's: a customer's column filter matches nothing.
        where.append(in_column(f.column) if user.is_staff else false())
    where.extend(_time_ranges(f))
    if f.archived == "false":
        where.append(Ticket.archived_at.is_(None))
    elif f.archived == "true":
        where.append(Ticket.archived_at.is_not(None))
    return where


def _time_ranges(f: TicketFilter) -> list[ColumnElement[bool]]:
    """From (inclusive) and before (exclusive) bounds on creation and last change."""
    where = []
    for column, after, before in (
        (Ticket.created_at, f.created_after, f.created_before),
        (Ticket.updated_at, f.updated_after, f.updated_before),
    ):
        if after is not None:
            where.append(column >= after)
        if before is not None:
            where.append(column < before)
    return where


@dataclass(frozen=True)
class Page:
    count: int
    results: list[dict[str, Any]]
    has_more: bool


async def list_tickets(
    db: Database,
    user: User,
    f: TicketFilter,
    *,
    offset: int,
    limit: int,
    counts: CountCache | None = None,
) -> Page:
    """One page in two queries whatever its size: the count (unless `counts` has it, see
    CountCache for how old it may be) and the tickets with their tags. One row past the page
    tells whether there is a next page."""
    async with db.reader_connection() as connection:
        count = await _count(connection, user, f, counts)
        rows = await _rows(connection, ticket_page(user, f, offset, limit + 1))
    results = [ticket_fields(r, _tags_for(user, r["tag_list"])) for r in rows[:limit]]
    return Page(count, results, len(rows) > limit)


async def count_tickets(
    db: Database, user: User, filters: Sequence[TicketFilter], counts: CountCache | None = None
) -> list[int]:
    """How many tickets `user` may see match each of `filters` (list_tickets' count, under
    the same access rules), in one reader session and no row read: a count statement per
    filter that `counts` does not hold (see CountCache for how old a held one may be)."""
    async with db.reader_connection() as connection:
        return [await _count(connection, user, f, counts) for f in filters]


async def _count(
    session: AsyncConnection, user: User, f: TicketFilter, counts: CountCache | None
) -> int:
    key = (_scope(user), f)
    count = counts.get(key) if counts else None
    if count is None:
        counting = select(func.count()).select_from(Ticket).where(*conditions(user, f))
        count = int(await session.scalar(counting) or 0)
        if counts:
            counts.put(key, count)
    return count


def ticket_page(user: User, f: TicketFilter, offset: int, limit: int) -> Select[Any]:
    """The list's tickets from `offset`, with their tags, in the asked order (newest id
    first among equals). The page's ids are chosen first, then only their rows and tags
    are read: choosing needs only the order and filter columns, which the live-list index
    holds, so skipping to page 20 walks index entries, not a thousand table rows."""
    chosen = matching_ids(user, f).offset(offset).limit(limit).subquery()
    return (
        TICKETS_WITH_TAGS.add_columns(*board_column(user))
        .join(chosen, chosen.c.id == Ticket.id)
        .order_by(*_order(f))
    )


def matching_ids(user: User, f: TicketFilter) -> Select[Any]:
    """The ids of the tickets `user` may see that match `f`, in the list's order (the list
    pages through it; the CSV export reads it whole)."""
    ids = select(Ticket.id).where(*conditions(user, f)).order_by(*_order(f))
    if _broad_live_view(user, f):
        # SQLite would fetch every match through the assignee index and sort them all.
        ids = ids.with_hint(Ticket, "INDEXED BY ix_tickets_live_updated", "sqlite")
    return ids


def _order(f: TicketFilter) -> tuple[UnaryExpression[Any], ...]:
    return (ORDERINGS[f.ordering], Ticket.id.desc())


def _scope(user: User) -> Hashable:
    """Who sees the same tickets: all admins; otherwise the person (and company, if they
    are its admin)."""
    if user.role == Role.ADMIN:
        return ("admin",)
    queues = queue_scope(user) if user.is_staff else None
    return (user.role, user.id, user.company_id if user.is_company_admin else None, queues)


def _broad_live_view(user: User, f: TicketFilter) -> bool:
    """A staff view of live tickets by last change, not narrowed to one customer, company,
    assignee or tag: its page is found by walking the live-list index."""
    narrowed = f.customer or f.company or f.assigned_agent or f.tag or f.queue or f.column
    return (
        f.archived == "false"
        and f.ordering.lstrip("-") == "updated_at"
        and visibility(user) in ("agent", "all")
        and not narrowed
    )


def board_column(user: User) -> tuple[ColumnElement[Any], ...]:
    """For staff, the column of the ticket's card (`board_column`, desk/board/card_column.py)
    read in the same statement as the ticket; nothing for customers (the board is the
    team's, and its column names may be internal)."""
    return board_column_of(user.is_staff)


def board_column_of(staff: bool) -> tuple[ColumnElement[Any], ...]:
    """board_column's, for staff (True) or not."""
    return (card_column(),) if staff else ()


# A ticket's tags in the same query as the ticket (one round trip for the whole page).
TAG_LIST = (
    select(func.aggregate_strings(Tag.name, "\n"))
    .join(TicketTag, TicketTag.tag_id == Tag.id)
    .where(TicketTag.ticket_id == Ticket.id)
    .scalar_subquery()
    .label("tag_list")
)
# A ticket's columns and tags: built once, each page adds its own join and order to it (the
# table as one element, not its columns one by one, is cheaper to build and to key).
TICKETS_WITH_TAGS = select(Ticket.__table__, TAG_LIST)
# The ticket this one is merged into now (desk/tickets/merge.py), or NULL.
MERGED_INTO = (
    select(TicketMerge.target_id)
    .where(TicketMerge.source_id == Ticket.id, TicketMerge.undone_at.is_(None))
    .order_by(TicketMerge.id.desc())
    .limit(1)
    .scalar_subquery()
    .label("merged_into")
)


# The minutes everyone logged on a ticket, in the same query as the ticket.
TIME_SPENT = (
    select(func.coalesce(func.sum(TimeEntry.minutes), 0))
    .where(TimeEntry.ticket_id == Ticket.id)
    .scalar_subquery()
    .label("time_spent")
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
    if not can_see_ticket(user, ticket) or (kind in TEAM_ONLY and not user.is_staff):
        raise NotFound(f"no attachment {attachment_id}")
    return attachment


ATTACHMENT_FIELDS = (
    "id",
    "filename",
    "content_type",
    "size",
    "is_inline",
    "content_id",
    "damaged",
    "damage_reason",
)


async def ticket_detail(db: Database, user: User, ticket_id: int) -> dict[str, Any]:
    """The ticket with the messages and attachments `user` may see; 404 for the rest, so
    a customer cannot even learn that someone else's ticket exists. Two statements: the
    ticket with its participants (a row each), then, once the ticket may be seen, its
    messages with their attachments (a row each)."""
    shown, staff = {"ticket_id": ticket_id}, user.is_staff
    async with db.reader_connection() as connection:
        found = await _rows(connection, ONE_TICKET[staff], shown)
        if not found or not _may_see_row(user, found[0]):
            raise TicketNotFound(f"no ticket {ticket_id}")
        rows = await _rows(connection, MESSAGES[staff], shown)
    ticket = found[0]
    detail = ticket_fields(ticket, _tags_for(user, ticket["tag_list"]))
    detail["messages"] = _messages(rows)
    # S1's ticket has a `description`: the text that opened it, our first message.
    detail["description"] = detail["messages"][0]["body"] if detail["messages"] else ""
    detail["participants"] = [
        {"address": p["p_address"], "name": p["p_name"], "role": p["p_role"]}
        for p in found
        if p["p_id"] is not None
    ]
    detail["support_address"] = ticket["support_address"]
    if staff:  # the team's hours (S4) are not shown to customers
        detail["time_spent_minutes"] = int(ticket["time_spent"] or 0)
    detail["merged_into"] = ticket["merged_into"]  # merged: CLOSED, its messages there
    return detail


def _messages(rows: list[RowMapping]) -> list[dict[str, Any]]:
    """The messages of MESSAGES' rows (a row per attachment, in message order), each with
    its attachments."""
    messages: list[dict[str, Any]] = []
    for row in rows:
        if not messages or messages[-1]["id"] != row["id"]:
            messages.append({**message_fields(row), "attachments": []})
        if row["a_id"] is not None:
            messages[-1]["attachments"].append(_attachment(row))
    return messages


# The statements of a ticket's detail, built once, whole, for staff (True) and for others:
# a request binds `ticket_id` and adds nothing, so SQLAlchemy keys each statement once.
# Joined in pairs, they are two round trips instead of four (on a shared machine, the
# socket work of a round trip costs the web process as much CPU as its Python).
# The ticket and a row per participant in the conversation now (staff removed the rest),
# oldest first, or one row with none; for staff with its card's board column.
PARTICIPANT_COLUMNS = ("id", "address", "name", "role")
ONE_TICKET = {
    staff: select(Ticket.__table__, TAG_LIST, TIME_SPENT, MERGED_INTO, *board_column_of(staff))
    .add_columns(*(TicketParticipant.__table__.c[n].label("p_" + n) for n in PARTICIPANT_COLUMNS))
    .outerjoin(
        TicketParticipant,
        and_(TicketParticipant.ticket_id == Ticket.id, TicketParticipant.removed_at.is_(None)),
    )
    .where(Ticket.id == bindparam("ticket_id"))
    .order_by(TicketParticipant.id)
    for staff in (False, True)
}
# The messages the reader may see (customers never see notes), a row per attachment (or
# one with none), in order.
ATTACHMENT_COLUMNS = (*ATTACHMENT_FIELDS, "forwarded_in_id")
MESSAGES = {
    staff: select(
        TicketMessage.__table__,
        *(Attachment.__table__.c[n].label("a_" + n) for n in ATTACHMENT_COLUMNS),
    )
    .outerjoin(Attachment, Attachment.ticket_message_id == TicketMessage.id)
    .where(TicketMessage.ticket_id == bindparam("ticket_id"), messages_shown(staff=staff))
    .order_by(TicketMessage.id, Attachment.id)
    for staff in (False, True)
}


def _may_see_row(user: User, row: Mapping[str, Any] | RowMapping) -> bool:
    return can_see_ticket_fields(
        user, row["customer_id"], row["assigned_agent_id"], row["company_id"], row["queue_id"]
    )


async def _rows(
    connection: AsyncConnection, statement: Select[Any], params: Mapping[str, Any] | None = None
) -> list[RowMapping]:
    """Rows by column name: answers are built from rows, not ORM objects (SQLAlchemy Core
    skips the ORM's per-statement work, loading context and identity map, that reading
    plain columns does not need)."""
    return list((await connection.execute(statement, params)).mappings())


def _tags_for(user: User, tag_list: str | None) -> list[str] | None:
    """The ticket's tags for staff; None (no `tags` key) for customers: tags are team-only
    (desk.auth.access.TEAM_ONLY_FIELDS)."""
    if not user.is_staff:
        return None
    return sorted(tag_list.split("\n")) if tag_list else []


def attachment_data(a: Attachment) -> dict[str, Any]:
    """A stored attachment as a ticket's detail shows it (the answer to a new message)."""
    names = (*ATTACHMENT_FIELDS, "forwarded_in_id")
    return _attachment({"a_" + name: getattr(a, name) for name in names})


def _attachment(row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """An attachment from its `a_` columns in a MESSAGES row."""
    shown = {name: row["a_" + name] for name in ATTACHMENT_FIELDS}
    shown["forwarded_in"] = row["a_forwarded_in_id"]  # the id of the forward's .eml, or None
    return shown


async def user_by_email(db: Database, email: str) -> User | None:
    async with db.reader() as session:
        return await session.scalar(select(User).where(User.email == email.strip().lower()))
