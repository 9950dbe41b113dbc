"""Auto-assignment: each waiting ticket (OPEN, nobody on it) goes to the available agent
(a member of the ticket's queue, or a site admin) with the fewest active tickets who is
under capacity; ties go to the agent idle longest
(whose last assignment is oldest, never-assigned first). Nobody available: the ticket waits
for the next run, which a change of availability or a new ticket brings forward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import Desk
from desk.models import QueueMember, Role, Status, Ticket, User, utcnow
from desk.tickets.workflow import set_assignee

ACTIVE = (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER)
BATCH = 100
NEVER = datetime.min.replace(tzinfo=UTC)
_STAFF = [Role.AGENT.value, Role.ADMIN.value]
_AVAILABLE = (User.role.in_(_STAFF), User.is_active, User.is_available)  # capacity apart


@dataclass
class _Candidate:
    agent: User
    active: int
    last_assigned: datetime
    queues: frozenset[int] = frozenset()  # where they may be given tickets

    def may_take(self, ticket: Ticket) -> bool:
        """Members of the ticket's queue, and site admins (who see every queue)."""
        return self.agent.role == Role.ADMIN or ticket.queue_id in self.queues

    @property
    def rank(self) -> tuple[int, datetime, int]:
        return self.active, self.last_assigned, self.agent.id


async def assign_waiting(desk: Desk) -> int:
    """Assign in batches, each one transaction: a run cut short leaves every ticket either
    assigned (with its history, event and notification) or still waiting."""
    total = 0
    if not await anyone_available(desk):
        return 0
    while (done := await _assign_batch(desk)) > 0:
        total += done
    return total


async def anyone_available(desk: Desk) -> bool:
    """Whether any staff member is available at all (capacity apart): a run is kicked by
    every batch of new tickets, and while nobody is available one read says it has nothing
    to do, with no write transaction (on SQLite the one write lock, which intake waits for)."""
    async with desk.db.reader() as session:
        found = await session.scalar(select(User.id).where(*_AVAILABLE).limit(1))
    return found is not None


async def _assign_batch(desk: Desk) -> int:
    async with desk.change() as (session, events):
        candidates = await _candidates(session)
        if not candidates:
            return 0
        waiting = await session.scalars(
            select(Ticket)
            .where(
                Ticket.assigned_agent_id.is_(None),
                Ticket.status == Status.OPEN.value,
                Ticket.archived_at.is_(None),
                *_takeable(candidates),
            )
            .order_by(Ticket.created_at, Ticket.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        assigned = 0
        for ticket in waiting:
            eligible = [c for c in candidates if c.may_take(ticket)]
            if not eligible:
                continue
            best = min(eligible, key=lambda c: c.rank)
            await set_assignee(session, desk, events, ticket, best.agent, None)
            assigned += 1
            best.active += 1
            best.last_assigned = utcnow()
            if best.active >= best.agent.capacity:
                candidates.remove(best)
        return assigned


def _takeable(candidates: list[_Candidate]) -> list[ColumnElement[bool]]:
    """Only tickets someone may take, so a queue nobody is available for never holds up
    the others (a site admin may take any)."""
    if any(c.agent.role == Role.ADMIN for c in candidates):
        return []
    return [Ticket.queue_id.in_(sorted({q for c in candidates for q in c.queues}))]


async def _candidates(session: AsyncSession) -> list[_Candidate]:
    load = (
        select(Ticket.assigned_agent_id, func.count(Ticket.id), func.max(Ticket.assigned_at))
        .where(
            Ticket.assigned_agent_id.is_not(None),
            Ticket.status.in_([s.value for s in ACTIVE]),
            Ticket.archived_at.is_(None),
        )
        .group_by(Ticket.assigned_agent_id)
        .subquery()
    )
    last = (
        select(Ticket.assigned_agent_id, func.max(Ticket.assigned_at).label("at"))
        .group_by(Ticket.assigned_agent_id)
        .subquery()
    )
    rows = await session.execute(
        select(User, load.c[1], last.c.at)
        .outerjoin(load, load.c.assigned_agent_id == User.id)
        .outerjoin(last, last.c.assigned_agent_id == User.id)
        .where(*_AVAILABLE, User.capacity > func.coalesce(load.c[1], 0))
    )
    found = [_Candidate(agent, active or 0, at or NEVER) for agent, active, at in rows]
    if not found:
        return found
    memberships = await session.execute(
        select(QueueMember.user_id, QueueMember.queue_id).where(
            QueueMember.user_id.in_([c.agent.id for c in found])
        )
    )
    queues: dict[int, set[int]] = {}
    for user_id, queue_id in memberships:
        queues.setdefault(user_id, set()).add(queue_id)
    for c in found:
        c.queues = frozenset(queues.get(c.agent.id, ()))
    return found
