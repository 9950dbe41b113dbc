"""The ticket workflow: status moves, assignment, archiving and edits. Each function is one
transaction that checks who may act, changes the ticket, records history, queues the mail
that tells people, and publishes events after commit.

Status moves (staff; `OPEN` from RESOLVED or CLOSED is "reopen"):

    OPEN                -> ASSIGNED IN_PROGRESS WAITING_ON_CUSTOMER RESOLVED CLOSED
    ASSIGNED            -> OPEN IN_PROGRESS WAITING_ON_CUSTOMER RESOLVED CLOSED
    IN_PROGRESS         -> ASSIGNED WAITING_ON_CUSTOMER RESOLVED CLOSED
    WAITING_ON_CUSTOMER -> IN_PROGRESS RESOLVED CLOSED
    RESOLVED            -> OPEN (reopen) CLOSED
    CLOSED              -> OPEN (reopen)

ASSIGNED and IN_PROGRESS need an assignee: staff setting IN_PROGRESS on an unassigned
ticket take it (it is assigned to them first). Reopening an assigned ticket lands on
ASSIGNED. A customer may only resolve their own ticket (from any status but CLOSED) or
reopen it from RESOLVED.

Who assigns (the ticket's queue decides; desk.auth.access.QUEUE_RIGHTS):

    site admin            any ticket, to any member of its queue or a site admin
    queue manager+        any ticket of the queue, likewise
    queue member (user)   an unassigned ticket or one they hold: to any member of the
                          queue (themselves included), or back (unassigned)
    customer              nobody

The assignee is always an active agent or admin who is a member of the ticket's queue (or
a site admin, who sees every queue). Moving a ticket to another queue (`moves.change_queue`)
takes a manager of its queue who works in the other one too."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import partial

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, may_in_queue
from desk.board.placement import follow_status
from desk.context import Desk, PendingEvent
from desk.db import insert_ignoring_conflicts
from desk.errors import Conflict, PermissionDenied, ValidationFailed
from desk.models import QueueMember, Role, Status, Tag, Ticket, TicketTag, User, utcnow
from desk.tickets import events as ev
from desk.tickets.errors import TicketNotFound
from desk.tickets.guard import require_unmerged, require_writable
from desk.tickets.history import record
from desk.tickets.notify import notify

S = Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.OPEN: (S.ASSIGNED, S.IN_PROGRESS, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED),
    S.ASSIGNED: (S.OPEN, S.IN_PROGRESS, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED),
    S.IN_PROGRESS: (S.ASSIGNED, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED),
    S.WAITING_ON_CUSTOMER: (S.IN_PROGRESS, S.RESOLVED, S.CLOSED),
    S.RESOLVED: (S.OPEN, S.CLOSED),
    S.CLOSED: (S.OPEN,),
}
CUSTOMER_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.OPEN: (S.RESOLVED,),
    S.ASSIGNED: (S.RESOLVED,),
    S.IN_PROGRESS: (S.RESOLVED,),
    S.WAITING_ON_CUSTOMER: (S.RESOLVED,),
    S.RESOLVED: (S.OPEN,),
    S.CLOSED: (),
}
NEEDS_ASSIGNEE = (S.ASSIGNED, S.IN_PROGRESS)
# The moves a customer hears about by mail; the steps in between are the team's business.
TELL_CUSTOMER = (S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED)
MAX_TAGS = 20


async def load_for_change(session: AsyncSession, actor: User, ticket_id: int) -> Ticket:
    """The ticket, locked for this transaction, if `actor` may see it (404 otherwise, so
    nobody learns that a ticket they may not see exists)."""
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None or not can_see_ticket(actor, ticket):
        raise TicketNotFound(f"no ticket {ticket_id}")
    return ticket


def _require_staff(actor: User, what: str) -> None:
    if not actor.is_staff:
        raise PermissionDenied(f"only agents and admins {what}")


async def set_status(desk: Desk, actor: User, ticket_id: int, status: str) -> Ticket:
    async with desk.change() as (session, events):
        ticket = await load_for_change(session, actor, ticket_id)
        await require_writable(session, ticket)
        await change_status(session, desk, events, actor, ticket, status)
    return ticket


async def change_status(
    session: AsyncSession,
    desk: Desk,
    events: list[PendingEvent],
    actor: User,
    ticket: Ticket,
    status: str,
    *,
    replied_to: Collection[str] = (),
) -> None:
    """`actor` asks for `status` on a live ticket loaded for change (set-status, or a card
    dragged to a column mapped to a status): by the table above, or refused (403/409).
    `replied_to`: the addresses (lower case) a public reply posted in the same action went
    to ("Send and resolve"): the reply carries the message, so whoever of them would be
    mailed about the status (the customer) is not."""
    if _takes_on(actor, ticket, status):
        await set_assignee(session, desk, events, ticket, actor, actor)
    old = ticket.status
    target = _check_move(actor, ticket, status)
    if target == old:
        return
    await move(session, desk, events, ticket, target, actor, replied_to=replied_to)


def _takes_on(actor: User, ticket: Ticket, status: str) -> bool:
    """Staff setting IN_PROGRESS on an unassigned ticket take it: it is assigned to them
    first (when the table allows IN_PROGRESS from where the ticket is)."""
    return (
        status == S.IN_PROGRESS
        and actor.is_staff
        and ticket.assigned_agent_id is None
        and S.IN_PROGRESS in TRANSITIONS[ticket.status]
    )


def _listed(statuses: Iterable[str]) -> str:
    """Statuses as a message shows them: `RESOLVED, CLOSED` (plain values, no reprs)."""
    return ", ".join(str(s) for s in statuses) or "none"


def _check_move(actor: User, ticket: Ticket, status: str) -> str:
    old = ticket.status
    if not actor.is_staff and ticket.customer_id != actor.id:
        raise PermissionDenied("only the ticket's customer or staff change its status")
    if status == old:
        return old
    if not actor.is_staff:
        allowed = CUSTOMER_TRANSITIONS[old]
        if status not in allowed:
            raise PermissionDenied(
                f"a customer may only resolve or reopen; from {old}: {_listed(allowed)}",
                allowed=[str(s) for s in allowed],
            )
    allowed = TRANSITIONS[old]
    if status not in allowed:
        raise Conflict(
            f"cannot move from {old} to {status}; allowed: {_listed(allowed)}",
            allowed=[str(s) for s in allowed],
            field="status",
        )
    if status in NEEDS_ASSIGNEE and ticket.assigned_agent_id is None:
        raise Conflict(
            f"{status} needs an assignee; assign the ticket first",
            field="status",
            allowed=[str(s) for s in allowed if s not in NEEDS_ASSIGNEE],
        )
    reopening = status == S.OPEN and old in (S.RESOLVED, S.CLOSED)
    if reopening and ticket.assigned_agent_id is not None:
        return S.ASSIGNED.value
    if status == S.OPEN and ticket.assigned_agent_id is not None:
        raise Conflict(
            "an assigned ticket is not OPEN; unassign it instead",
            field="status",
            allowed=list(allowed),
        )
    return status


async def move(
    session: AsyncSession,
    desk: Desk,
    events: list[PendingEvent],
    ticket: Ticket,
    target: str,
    actor: User | None,
    *,
    tell: bool = True,
    replied_to: Collection[str] = (),
) -> None:
    """Change the status (already checked), record it and, if `tell`, mail whoever should
    know (an assignment's own status step is told by the assignment mail instead), except
    the addresses in `replied_to` (a reply of the same action told them: change_status)."""
    old = ticket.status
    _set_status(ticket, old, target)
    record(session, ticket, actor, "status", old, target)
    events.append(partial(ev.status_changed, ticket, old))
    await follow_status(session, events, ticket, old)  # its card goes to its status's column
    reopened = _reopens(old, target)
    if not tell:
        return
    told = partial(_tell_status, session, desk, ticket, actor=actor, old=old, reopened=reopened)
    if target in TELL_CUSTOMER or reopened:
        await told(ticket.customer_id, replied_to=replied_to)
    if ticket.assigned_agent_id is not None:
        await told(ticket.assigned_agent_id, replied_to=replied_to)


def _reopens(old: str, target: str) -> bool:
    """Whether moving from `old` to `target` takes a finished ticket back into work."""
    return old in (S.RESOLVED, S.CLOSED) and target not in (S.RESOLVED, S.CLOSED)


def _set_status(ticket: Ticket, old: str, target: str) -> None:
    """Set the status and its timestamps: resolving stamps it, reopening clears that."""
    ticket.status = target
    ticket.updated_at = utcnow()
    if target == S.RESOLVED:
        ticket.resolved_at = ticket.updated_at
    elif _reopens(old, target):
        ticket.resolved_at = None


async def _tell_status(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    user_id: int,
    *,
    actor: User | None,
    old: str,
    reopened: bool,
    replied_to: Collection[str],
) -> None:
    """Mail the user `user_id`, if they exist and did not just get a reply of the same
    action (`replied_to`), that the ticket's status changed."""
    person = await session.get(User, user_id)
    if person is not None and person.email.lower() not in replied_to:
        await notify(
            session,
            desk,
            ticket,
            person,
            "status_changed",
            actor=actor,
            old_status=old,
            reopened=reopened,
        )


async def assign(desk: Desk, actor: User, ticket_id: int, agent_id: int | None) -> Ticket:
    """Assign by the table in this module's docstring. Assigning moves OPEN to ASSIGNED;
    unassigning moves it back."""
    async with desk.change() as (session, events):
        ticket = await load_for_change(session, actor, ticket_id)
        _require_staff(actor, "assign tickets")
        await require_writable(session, ticket)
        if agent_id == ticket.assigned_agent_id:
            return ticket
        _check_assign(actor, ticket, agent_id)
        agent = await _assignee(session, agent_id, ticket.queue_id)
        await set_assignee(session, desk, events, ticket, agent, actor)
    return ticket


async def _assignee(session: AsyncSession, agent_id: int | None, queue_id: int) -> User | None:
    if agent_id is None:
        return None
    agent = await session.get(User, agent_id)
    if agent is None or not agent.is_active or not agent.is_staff:
        raise ValidationFailed(
            "only an active agent or admin can be assigned", field="assigned_agent"
        )
    if agent.role != Role.ADMIN and not await is_member(session, queue_id, agent.id):
        raise ValidationFailed(
            "only a member of the ticket's queue can be assigned", field="assigned_agent"
        )
    return agent


async def is_member(session: AsyncSession, queue_id: int, user_id: int) -> bool:
    return await session.get(QueueMember, (queue_id, user_id)) is not None


def _check_assign(actor: User, ticket: Ticket, agent_id: int | None) -> None:
    """A member assigns an unassigned ticket or one they hold; managers and up (and site
    admins) any ticket of the queue. Whoever holds a ticket may always hand it back."""
    if may_in_queue(actor, ticket.queue_id, "reassign"):
        return
    holds = ticket.assigned_agent_id == actor.id
    if ticket.assigned_agent_id is not None and not holds:
        raise PermissionDenied(
            "a queue member assigns unassigned tickets and their own; "
            "reassigning a colleague's ticket takes a queue manager"
        )
    if holds and agent_id is None:
        return
    if not may_in_queue(actor, ticket.queue_id, "work"):
        raise PermissionDenied("only members of the ticket's queue assign it")


async def set_assignee(
    session: AsyncSession,
    desk: Desk,
    events: list[PendingEvent],
    ticket: Ticket,
    agent: User | None,
    actor: User | None,
) -> None:
    old_agent = ticket.assigned_agent_id
    ticket.assigned_agent_id = agent.id if agent else None
    ticket.assigned_at = utcnow() if agent else None
    ticket.updated_at = utcnow()
    record(session, ticket, actor, "assigned_agent", old_agent, ticket.assigned_agent_id)
    events.append(partial(ev.assigned, ticket, old_agent))
    if agent is not None and ticket.status == S.OPEN:
        await move(session, desk, events, ticket, S.ASSIGNED.value, actor, tell=False)
    elif agent is None and ticket.status in NEEDS_ASSIGNEE:
        await move(session, desk, events, ticket, S.OPEN.value, actor, tell=False)
    if agent is not None:
        await notify(session, desk, ticket, agent, "assigned", actor=actor)


async def release_tickets(
    session: AsyncSession,
    desk: Desk,
    events: list[PendingEvent],
    agent_id: int,
    actor: User | None,
    queue_id: int | None = None,
) -> None:
    """Someone who no longer works in a queue (removed from it; or in any queue: demoted to
    customer, deactivated) gives up the unfinished tickets they hold there, as a ticket
    moved to a queue its assignee is not in does: each is unassigned (history, events), so
    it waits for someone who may take it. Finished and archived tickets keep their
    assignee (the record of who did the work); the access rule hides them all the same."""
    query = (
        select(Ticket)
        .where(
            Ticket.assigned_agent_id == agent_id,
            Ticket.archived_at.is_(None),
            Ticket.status.not_in((S.RESOLVED, S.CLOSED)),
        )
        .order_by(Ticket.id)
        .with_for_update()
    )
    if queue_id is not None:
        query = query.where(Ticket.queue_id == queue_id)
    for ticket in list(await session.scalars(query)):
        await set_assignee(session, desk, events, ticket, None, actor)


async def archive(desk: Desk, actor: User, ticket_id: int, archived: bool) -> Ticket:
    """Only finished tickets are archived; an archived ticket leaves the default lists and
    takes no more changes until it is unarchived. Mail to it opens a linked ticket."""
    async with desk.change() as (session, events):
        ticket = await load_for_change(session, actor, ticket_id)
        _require_staff(actor, "archive tickets")
        await require_unmerged(session, ticket.id)
        if (ticket.archived_at is not None) == archived:
            return ticket
        if archived and ticket.status not in (S.RESOLVED, S.CLOSED):
            raise Conflict(
                f"only RESOLVED or CLOSED tickets are archived; this one is {ticket.status}",
                field="status",
            )
        set_archived(session, events, ticket, archived, actor)
    return ticket


def set_archived(
    session: AsyncSession,
    events: list[PendingEvent],
    ticket: Ticket,
    archived: bool,
    actor: User | None,
) -> None:
    old = ticket.archived_at
    ticket.archived_at = utcnow() if archived else None
    ticket.updated_at = utcnow()
    record(session, ticket, actor, "archived", old is not None, archived)
    events.append(partial(ev.updated, ticket, ["archived"]))


async def update(
    desk: Desk,
    actor: User,
    ticket_id: int,
    *,
    subject: str | None,
    priority: str | None,
    tags: list[str] | None,
) -> Ticket:
    async with desk.change() as (session, events):
        ticket = await load_for_change(session, actor, ticket_id)
        _require_staff(actor, "edit tickets")
        await require_writable(session, ticket)
        changed: list[str] = []
        for name, value in (("subject", subject), ("priority", priority)):
            if value is not None and getattr(ticket, name) != value:
                record(session, ticket, actor, name, getattr(ticket, name), value)
                setattr(ticket, name, value)
                changed.append(name)
        if tags is not None and await _set_tags(session, ticket, actor, tags):
            changed.append("tags")
        if changed:
            ticket.updated_at = utcnow()
            events.append(partial(ev.updated, ticket, changed))
    return ticket


async def _set_tags(session: AsyncSession, ticket: Ticket, actor: User, names: list[str]) -> bool:
    wanted = sorted({n.strip().lower() for n in names if n.strip()})
    if len(wanted) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags", field="tags")
    current = sorted(await tags_of(session, ticket.id))
    if current == wanted:
        return False
    if wanted:  # created on the fly; a concurrent writer creating the same one is fine
        await session.execute(
            insert_ignoring_conflicts(session, Tag), [{"name": n} for n in wanted]
        )
    ids = list(await session.scalars(select(Tag.id).where(Tag.name.in_(wanted))))
    await session.execute(delete(TicketTag).where(TicketTag.ticket_id == ticket.id))
    if ids:
        session.add_all(TicketTag(ticket_id=ticket.id, tag_id=i) for i in ids)
    record(session, ticket, actor, "tags", current, wanted)
    return True


async def tags_of(session: AsyncSession, ticket_id: int) -> list[str]:
    rows = await session.scalars(
        select(Tag.name)
        .join(TicketTag, TicketTag.tag_id == Tag.id)
        .where(TicketTag.ticket_id == ticket_id)
        .order_by(Tag.name)
    )
    return list(rows)
