"""Time tracking (S4): staff log the minutes they worked on a ticket, on a day, with a note.

Who may do what:
- list a ticket's entries, add one: staff who may see the ticket (customers who see it get
  403, everyone else 404, as for every staff-only ticket action);
- edit or delete an entry: its author, or a site admin (other staff 403); an entry on a
  ticket the caller may not see (now: removed from the queue, the ticket handed on) is 404
  to everyone but site admins, their own included, and is left out of their export;
- log time for someone else (`user_id`): site admins, for an active staff member who may
  see the ticket (else 400 naming `user_id`);
- one person logs at most MAX_MINUTES a day, across entries (400 naming `minutes`).

An entry answers as `{id, ticket_id, ticket, user_id, user{id,name,email}, minutes, hours,
note, description, worked_on, date, created_at, updated_at}`: `ticket`, `description`,
`date` and `hours` repeat our fields under the names S4-style clients send."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from desk.auth.access import can_see_ticket, ticket_filter
from desk.context import Desk
from desk.db import Database
from desk.errors import NotFound, PermissionDenied, ValidationFailed
from desk.exports import Export, Row, export
from desk.models import Role, Ticket, TimeEntry, User, utcnow
from desk.tickets.guard import require_unmerged, require_writable
from desk.tickets.queries import visible_ticket

MAX_MINUTES = 24 * 60  # one entry, and one person's entries of a day, at most a day's work


@dataclass(frozen=True)
class Work:
    """What a person logs: minutes (1..MAX_MINUTES), a note, the day; `user_id` None: the
    caller. For an edit, None fields stay as they are."""

    minutes: int | None = None
    note: str | None = None
    worked_on: date | None = None
    user_id: int | None = None


def require_staff(user: User, what: str = "time entries") -> None:
    """403 unless `user` is an active agent or admin; `what` names the thing refused."""
    if not (user.is_active and user.is_staff):
        raise PermissionDenied(f"{what} are for agents and admins")


def _is_admin(user: User) -> bool:
    return user.is_active and user.role == Role.ADMIN


async def _visible_to_staff(session: AsyncSession, user: User, ticket_id: int) -> Ticket:
    """The ticket if `user` may see it (404), then if they are staff (403)."""
    ticket = await visible_ticket(session, user, ticket_id)
    require_staff(user)
    return ticket


async def ticket_entries(db: Database, user: User, ticket_id: int) -> dict[str, Any]:
    """`{count, next, previous, results, total_minutes}`, oldest day first."""
    async with db.reader() as session:
        await _visible_to_staff(session, user, ticket_id)
        rows = (
            await session.execute(
                select(TimeEntry, User)
                .join(User, User.id == TimeEntry.user_id)
                .where(TimeEntry.ticket_id == ticket_id)
                .order_by(TimeEntry.worked_on, TimeEntry.id)
            )
        ).all()
    results = [entry_data(e, u) for e, u in rows]
    return {
        "count": len(results),
        "next": None,
        "previous": None,
        "results": results,
        "total_minutes": sum(r["minutes"] for r in results),
    }


async def add_entry(desk: Desk, user: User, ticket_id: int, work: Work) -> dict[str, Any]:
    if work.minutes is None:
        raise ValidationFailed("give minutes (or hours)", field="minutes")
    async with desk.change() as (session, _events):
        ticket = await _visible_to_staff(session, user, ticket_id)
        await require_writable(session, ticket)
        worker = await _worker(session, user, work.user_id, ticket)
        now = utcnow()
        entry = TimeEntry(
            ticket_id=ticket_id,
            user_id=worker.id,
            minutes=work.minutes,
            note=work.note or "",
            worked_on=_day(work.worked_on),
            created_at=now,
            updated_at=now,
        )
        await _within_a_day(session, entry)
        session.add(entry)
        await session.flush()
        return entry_data(entry, worker)


async def edit_entry(desk: Desk, user: User, entry_id: int, work: Work) -> dict[str, Any]:
    async with desk.change() as (session, _events):
        entry, ticket = await _own_or_admin(session, user, entry_id)
        await require_unmerged(session, ticket.id)
        if work.minutes is not None:
            entry.minutes = work.minutes
        if work.note is not None:
            entry.note = work.note
        if work.worked_on is not None:
            entry.worked_on = _day(work.worked_on)
        if work.user_id is not None:
            entry.user_id = (await _worker(session, user, work.user_id, ticket)).id
        await _within_a_day(session, entry)
        entry.updated_at = utcnow()
        await session.flush()
        worker = await session.get(User, entry.user_id)
        assert worker is not None  # a foreign key
        return entry_data(entry, worker)


async def delete_entry(desk: Desk, user: User, entry_id: int) -> None:
    async with desk.change() as (session, _events):
        entry, ticket = await _own_or_admin(session, user, entry_id)
        await require_unmerged(session, ticket.id)
        await session.delete(entry)


async def _own_or_admin(
    session: AsyncSession, user: User, entry_id: int
) -> tuple[TimeEntry, Ticket]:
    """The entry (locked) and its ticket: NotFound unless `user` is a site admin or may see
    the ticket; PermissionDenied for staff who see it but did not write the entry."""
    require_staff(user)
    entry = await session.get(TimeEntry, entry_id, with_for_update=True)
    ticket = await session.get(Ticket, entry.ticket_id) if entry is not None else None
    if entry is None or ticket is None:
        raise NotFound(f"no time entry {entry_id}")
    if _is_admin(user):
        return entry, ticket
    if not can_see_ticket(user, ticket):  # their own too: the ticket is no longer theirs
        raise NotFound(f"no time entry {entry_id}")
    if entry.user_id != user.id:
        raise PermissionDenied("only its author or an admin changes a time entry")
    return entry, ticket


async def _worker(session: AsyncSession, user: User, user_id: int | None, ticket: Ticket) -> User:
    """Who worked: the caller, or (site admins only) another active staff member who may
    see `ticket` (else their export would show what they may not read)."""
    if user_id is None or user_id == user.id:
        return user
    if not _is_admin(user):
        raise PermissionDenied("only admins log time for someone else")
    worker = await session.scalar(
        select(User).where(User.id == user_id).options(selectinload(User.memberships))
    )
    if worker is None or not worker.is_active or not worker.is_staff:
        raise ValidationFailed("user_id must name an active agent or admin", field="user_id")
    if not can_see_ticket(worker, ticket):
        raise ValidationFailed(
            f"user {user_id} may not see ticket {ticket.id} (not in its queue)", field="user_id"
        )
    return worker


async def _within_a_day(session: AsyncSession, entry: TimeEntry) -> None:
    """The worker's entries of the entry's day, this one included, stay within
    MAX_MINUTES. The worker's row is locked first (PostgreSQL), so two entries logged at
    once are counted one after the other."""
    await session.execute(select(User.id).where(User.id == entry.user_id).with_for_update())
    others = select(func.coalesce(func.sum(TimeEntry.minutes), 0)).where(
        TimeEntry.user_id == entry.user_id, TimeEntry.worked_on == entry.worked_on
    )
    if entry.id is not None:
        others = others.where(TimeEntry.id != entry.id)
    logged = int(await session.scalar(others) or 0)
    if logged + (entry.minutes or 0) > MAX_MINUTES:
        raise ValidationFailed(
            f"at most {MAX_MINUTES} minutes a day per person: {logged} are logged on"
            f" {entry.worked_on.isoformat()} already",
            field="minutes",
        )


def _day(worked_on: date | None) -> date:
    """The day given, or today (UTC); at most tomorrow (a person east of UTC is a day
    ahead), from the year 2000."""
    today = utcnow().date()
    day = worked_on or today
    if day.toordinal() > today.toordinal() + 1 or day.year < 2000:
        raise ValidationFailed("worked_on must be a day from 2000 up to today", field="worked_on")
    return day


def entry_data(entry: TimeEntry, worker: User) -> dict[str, Any]:
    return {
        "id": entry.id,
        "ticket_id": entry.ticket_id,
        "ticket": entry.ticket_id,
        "user_id": worker.id,
        "user": {"id": worker.id, "name": worker.name, "email": worker.email},
        "minutes": entry.minutes,
        "hours": round(entry.minutes / 60, 2),
        "note": entry.note,
        "description": entry.note,
        "worked_on": entry.worked_on.isoformat(),
        "date": entry.worked_on.isoformat(),
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    }


def visible_entries(user: User) -> ColumnElement[bool]:
    """The entries `user` may read in a list or export (with TimeEntry joined to Ticket):
    those on tickets they may see (their own on a ticket they no longer see are left out:
    the subject and the work are the queue's)."""
    return ticket_filter(user)


@dataclass(frozen=True)
class TimeFilter:
    """Entries worked on from `since` to `until` (both days included), by one agent, on
    the tickets of one queue, or on one ticket; each filter off when None."""

    since: date | None = None
    until: date | None = None
    agent: int | None = None
    queue: int | None = None
    ticket: int | None = None


def time_conditions(f: TimeFilter) -> list[ColumnElement[bool]]:
    """`f` as SQL, with TimeEntry joined to Ticket (the export and the analytics)."""
    where = []
    if f.since is not None:
        where.append(TimeEntry.worked_on >= f.since)
    if f.until is not None:
        where.append(TimeEntry.worked_on <= f.until)
    if f.agent is not None:
        where.append(TimeEntry.user_id == f.agent)
    if f.queue is not None:
        where.append(Ticket.queue_id == f.queue)
    if f.ticket is not None:
        where.append(TimeEntry.ticket_id == f.ticket)
    return where


EXPORT_COLUMNS = (
    "id",
    "ticket_id",
    "ticket_subject",
    "queue_id",
    "user_id",
    "user_email",
    "user_name",
    "worked_on",
    "minutes",
    "hours",
    "note",
    "created_at",
    "updated_at",
)


async def entry_export(db: Database, user: User, f: TimeFilter) -> Export:
    """The entries `user` may read (visible_entries) matching `f`, by day then id;
    PermissionDenied for customers."""
    require_staff(user)
    ids = (
        select(TimeEntry.id)
        .join(Ticket, Ticket.id == TimeEntry.ticket_id)
        .where(visible_entries(user), *time_conditions(f))
        .order_by(TimeEntry.worked_on, TimeEntry.id)
    )
    return await export(db, ids, EXPORT_COLUMNS, lambda chunk: _export_rows(user, chunk), _shape)


def _export_rows(user: User, ids: Sequence[int]) -> Select[Any]:
    columns: list[Any] = [
        TimeEntry.id,
        TimeEntry.ticket_id,
        Ticket.subject,
        Ticket.queue_id,
        TimeEntry.user_id,
        User.email,
        User.name,
        TimeEntry.worked_on,
        TimeEntry.minutes,
        TimeEntry.note,
        TimeEntry.created_at,
        TimeEntry.updated_at,
    ]
    return (
        select(*columns)
        .join(Ticket, Ticket.id == TimeEntry.ticket_id)
        .join(User, User.id == TimeEntry.user_id)
        .where(TimeEntry.id.in_(ids), visible_entries(user))
    )


def _shape(row: Any) -> Row:
    cells: list[Any] = list(row)
    cells.insert(9, round(cells[8] / 60, 2))  # hours, after minutes
    return tuple(c.isoformat() if isinstance(c, (date, datetime)) else c for c in cells)
