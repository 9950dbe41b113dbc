"""Moving a ticket to another queue: a manager of its queue (or a site admin) who also works
in the other queue. An assignee who is not a member there (nor a site admin) gives the
ticket up, so it waits in its new queue for someone who may take it."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue
from desk.board.placement import leave_board
from desk.context import Desk, PendingEvent
from desk.errors import PermissionDenied, ValidationFailed
from desk.models import Queue, Role, Ticket, User, utcnow
from desk.tickets import events as ev
from desk.tickets.history import record
from desk.tickets.workflow import is_member, set_assignee


async def change_queue(
    session: AsyncSession,
    desk: Desk,
    events: list[PendingEvent],
    actor: User,
    ticket: Ticket,
    queue_id: int,
) -> None:
    """Move a live ticket, loaded for change by staff, to queue `queue_id` (the one
    transaction is desk.board.cards.move_card's, POST /api/tickets/<id>/move/). Its card
    leaves the old board for the column of its status on the new one."""
    if not may_in_queue(actor, ticket.queue_id, "move"):
        raise PermissionDenied("moving a ticket out of its queue takes a queue manager")
    if queue_id == ticket.queue_id:
        return
    if await session.get(Queue, queue_id) is None or not may_in_queue(actor, queue_id, "work"):
        raise ValidationFailed(f"no queue {queue_id} you work in", field="queue")
    old = ticket.queue_id
    ticket.queue_id, ticket.updated_at = queue_id, utcnow()
    record(session, ticket, actor, "queue", old, queue_id)
    events.append(partial(ev.updated, ticket, ["queue"]))
    await leave_board(session, events, ticket, old)
    agent_id = ticket.assigned_agent_id
    if agent_id is not None and not await _may_hold(session, agent_id, queue_id):
        await set_assignee(session, desk, events, ticket, None, actor)


async def _may_hold(session: AsyncSession, agent_id: int, queue_id: int) -> bool:
    agent = await session.get(User, agent_id)
    if agent is not None and agent.role == Role.ADMIN:
        return True
    return await is_member(session, queue_id, agent_id)
