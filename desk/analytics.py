"""Analytics for admins, computed in SQL on both databases: counts by GROUP BY, days by the
database's own date of each UTC timestamp, averages and medians by window functions (a
median is the mean of the one or two middle rows by ROW_NUMBER, which SQLite and
PostgreSQL both run). Only the finished numbers come back to Python; the zeros of days
without tickets are filled in here, from the list of days asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from desk.auth.access import may_in_queue
from desk.db import Database
from desk.errors import PermissionDenied
from desk.models import (
    MessageKind,
    Priority,
    Role,
    Status,
    Ticket,
    TicketMessage,
    TimeEntry,
    User,
    utcnow,
)
from desk.time_entries import TimeFilter, time_conditions

BACKLOG = (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER)


def check_report_access(user: User, queue_id: int | None) -> None:
    """Site admins read every report; a queue's managers (and its admins and superadmins)
    read the reports of that queue (`?queue=`)."""
    if user.is_active and user.role == Role.ADMIN:
        return
    if queue_id is None or not may_in_queue(user, queue_id, "report"):
        raise PermissionDenied(
            "reports are for site admins, and for a queue's managers with ?queue=<id>"
        )


def _in_queue(queue_id: int | None) -> list[ColumnElement[bool]]:
    return [] if queue_id is None else [Ticket.queue_id == queue_id]


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _day(session: AsyncSession, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, whatever the session's time zone."""
    if _is_postgres(session):
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores UTC text


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[float]:
    if _is_postgres(session):
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


async def summary(db: Database, queue_id: int | None = None) -> dict[str, Any]:
    scope = _in_queue(queue_id)
    async with db.reader() as session:
        by_status = dict(
            (
                await session.execute(
                    select(Ticket.status, func.count()).where(*scope).group_by(Ticket.status)
                )
            ).all()
        )
        by_priority = dict(
            (
                await session.execute(
                    select(Ticket.priority, func.count())
                    .where(Ticket.status.in_(BACKLOG), *scope)
                    .group_by(Ticket.priority)
                )
            ).all()
        )
        backlog, unassigned, archived = (
            await session.execute(
                select(
                    func.count(Ticket.id).filter(Ticket.status.in_(BACKLOG)),
                    func.count(Ticket.id).filter(
                        Ticket.status.in_(BACKLOG), Ticket.assigned_agent_id.is_(None)
                    ),
                    func.count(Ticket.archived_at),
                ).where(*scope)
            )
        ).one()
    return {
        "total": sum(by_status.values()),
        "by_status": {s.value: int(by_status.get(s.value, 0)) for s in Status},
        "backlog_by_priority": {p.value: int(by_priority.get(p.value, 0)) for p in Priority},
        "backlog": int(backlog),
        "unassigned": int(unassigned),
        "archived": int(archived),
    }


async def volume(
    db: Database, days: int, today: date | None = None, queue_id: int | None = None
) -> list[dict[str, Any]]:
    """Tickets created and resolved per UTC day, the last `days` days up to today."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=utcnow().tzinfo)
    async with db.reader() as session:
        created = await _per_day(session, Ticket.created_at, since, queue_id)
        resolved = await _per_day(session, Ticket.resolved_at, since, queue_id)
    return [
        {
            "date": (d := first + timedelta(days=i)).isoformat(),
            "created": created.get(d.isoformat(), 0),
            "resolved": resolved.get(d.isoformat(), 0),
        }
        for i in range(days)
    ]


async def _per_day(
    session: AsyncSession, column: Any, since: datetime, queue_id: int | None
) -> dict[str, int]:
    day = _day(session, column).label("day")
    rows = await session.execute(
        select(day, func.count()).where(column >= since, *_in_queue(queue_id)).group_by(day)
    )
    return {str(d): int(n) for d, n in rows}


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    queue_id: int | None = None  # the tickets of one queue only


async def resolution(db: Database, period: Period) -> dict[str, Any]:
    """Time to resolve (tickets resolved in the period, by their assignee) and time to the
    first agent response (tickets opened in the period, by who answered first): count,
    average and median in seconds, per agent and overall."""
    async with db.reader() as session:
        resolve = _resolve_times(session, period).subquery()
        respond = _first_response_times(session, period).subquery()
        resolved = await _stats(session, resolve)
        responded = await _stats(session, respond)
        ids = {a for a in (*resolved, *responded) if isinstance(a, int)}
        people = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))}
    agents = []
    for agent_id in sorted(ids):
        person = people.get(agent_id)
        agents.append(
            {
                "agent_id": agent_id,
                "name": person.name if person else "",
                "email": person.email if person else "",
                **_named(resolved.get(agent_id), "resolution"),
                **_named(responded.get(agent_id), "first_response"),
            }
        )
    return {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "overall": {
            **_named(resolved.get("all"), "resolution"),
            **_named(responded.get("all"), "first_response"),
        },
        "agents": agents,
    }


def _resolve_times(session: AsyncSession, period: Period) -> Select[int | None, float]:
    return select(
        Ticket.assigned_agent_id.label("agent_id"),
        _seconds(session, Ticket.resolved_at, Ticket.created_at).label("seconds"),
    ).where(
        Ticket.resolved_at >= period.since,
        Ticket.resolved_at < period.until,
        *_in_queue(period.queue_id),
    )


def _first_response_times(session: AsyncSession, period: Period) -> Select[int | None, float]:
    first = (
        select(TicketMessage.ticket_id, func.min(TicketMessage.id).label("message_id"))
        .where(TicketMessage.kind == MessageKind.OUTBOUND.value)
        .group_by(TicketMessage.ticket_id)
        .subquery()
    )
    reply = aliased(TicketMessage)
    return (
        select(
            reply.author_id.label("agent_id"),
            _seconds(session, reply.created_at, Ticket.created_at).label("seconds"),
        )
        .select_from(Ticket)
        .join(first, first.c.ticket_id == Ticket.id)
        .join(reply, reply.id == first.c.message_id)
        .where(
            Ticket.created_at >= period.since,
            Ticket.created_at < period.until,
            *_in_queue(period.queue_id),
        )
    )


async def _stats(session: AsyncSession, durations: Any) -> dict[Any, dict[str, Any]]:
    """{agent_id | "all": {count, average, median}} from rows of (agent_id, seconds)."""
    out: dict[Any, dict[str, Any]] = {}
    for key, group in ((durations.c.agent_id, True), (literal(0, Integer), False)):
        ranked = select(
            key.label("k"),
            durations.c.seconds,
            func.row_number().over(partition_by=key, order_by=durations.c.seconds).label("rn"),
            func.count().over(partition_by=key).label("n"),
        ).subquery()
        middle = and_(ranked.c.rn >= (ranked.c.n + 1) // 2, ranked.c.rn <= (ranked.c.n + 2) // 2)
        rows = await session.execute(
            select(
                ranked.c.k,
                func.max(ranked.c.n),
                func.avg(ranked.c.seconds),
                func.avg(case((middle, ranked.c.seconds))),
            ).group_by(ranked.c.k)
        )
        for k, count, average, median in rows:
            out[k if group else "all"] = {
                "count": int(count),
                "average": _round(average),
                "median": _round(median),
            }
    return out


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _named(stats: dict[str, Any] | None, what: str) -> dict[str, Any]:
    stats = stats or {"count": 0, "average": None, "median": None}
    return {
        f"{what}_count": stats["count"],
        f"{what}_average_seconds": stats["average"],
        f"{what}_median_seconds": stats["median"],
    }


async def time_spent(db: Database, f: TimeFilter) -> dict[str, Any]:
    """Minutes logged (S4), per agent and overall, in `f`'s period (days, both included),
    optionally for one agent or one queue's tickets: `{since, until, agent, queue,
    overall: {minutes, hours, entries, tickets}, agents: [{agent_id, name, email, minutes,
    hours, entries, tickets}]}`, most minutes first."""
    totals = (
        func.coalesce(func.sum(TimeEntry.minutes), 0),
        func.count(TimeEntry.id),
        func.count(func.distinct(TimeEntry.ticket_id)),
    )
    scope = (TimeEntry.__table__.join(Ticket.__table__, Ticket.id == TimeEntry.ticket_id),)
    where = time_conditions(f)
    async with db.reader() as session:
        per_agent = (
            await session.execute(
                select(User.id, User.name, User.email, *totals)
                .select_from(*scope)
                .join(User, User.id == TimeEntry.user_id)
                .where(*where)
                .group_by(User.id, User.name, User.email)
                .order_by(totals[0].desc(), User.id)
            )
        ).all()
        overall = (await session.execute(select(*totals).select_from(*scope).where(*where))).one()
    return {
        "since": f.since.isoformat() if f.since else None,
        "until": f.until.isoformat() if f.until else None,
        "agent": f.agent,
        "queue": f.queue,
        "overall": _time_totals(*overall),
        "agents": [
            {"agent_id": i, "name": name, "email": email, **_time_totals(*rest)}
            for i, name, email, *rest in per_agent
        ],
    }


def _time_totals(minutes: Any, entries: Any, tickets: Any) -> dict[str, Any]:
    return {
        "minutes": int(minutes),
        "hours": round(int(minutes) / 60, 2),
        "entries": int(entries),
        "tickets": int(tickets),
    }
