"""Merging a ticket into another, undoing it within a minute, and suggesting merges.

A merge moves the source's messages (with their attachments), participants, history and
Message-IDs into the target, closes the source and remembers what moved (TicketMerge), so:
- the customer's next mail to either ticket lands in the target: In-Reply-To/References
  find the target by the moved Message-IDs, and a reply token or `[#source]` subject tag
  naming the source is sent on to the target (desk/preload.py `merged_targets`);
- an undo within UNDO_SECONDS moves back exactly what moved and gives the source its
  status again (later: 409 `undo_window_passed`).

Who may merge or undo: an agent or admin who may work both tickets (sees both, and is a
member of both queues, or a site admin). Neither ticket may be archived, and a ticket is
merged once at a time (a merged ticket can neither be merged again nor take a merge).
Both tickets must be the same customer's (409 `different_customers`): a merge shows the
target's whole conversation, and mails its replies, to everyone on it, so one customer's
mail and address would reach the other. A merged ticket takes no new message (409
`merged`, desk/tickets/service.py): it is written on in its target.

Suggestions: the same customer's other tickets opened within SUGGEST_HOURS of this one,
not archived and not merged, that the caller may see; the nearest in time first."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, may_in_queue, ticket_filter
from desk.context import Desk
from desk.db import Database
from desk.errors import Conflict, PermissionDenied, ValidationFailed
from desk.events.tickets import TicketMerged, TicketUnmerged
from desk.models import (
    KnownMessageId,
    Status,
    Ticket,
    TicketChange,
    TicketMerge,
    TicketMessage,
    TicketParticipant,
    User,
    utcnow,
)
from desk.tickets import events as ev
from desk.tickets.errors import TicketNotFound
from desk.tickets.history import record
from desk.tickets.workflow import move

UNDO_SECONDS = 60
SUGGEST_HOURS = 72


async def open_merge(session: AsyncSession, source_id: int) -> TicketMerge | None:
    """The merge the ticket is in now (as the source), if any."""
    found: TicketMerge | None = await session.scalar(
        select(TicketMerge)
        .where(TicketMerge.source_id == source_id, TicketMerge.undone_at.is_(None))
        .order_by(TicketMerge.id.desc())
        .limit(1)
    )
    return found


async def merged_into(session: AsyncSession, ticket_ids: set[int]) -> dict[int, int]:
    """For each of `ticket_ids` that is merged now: the ticket it is merged into."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(TicketMerge.source_id, TicketMerge.target_id).where(
            TicketMerge.source_id.in_(ticket_ids), TicketMerge.undone_at.is_(None)
        )
    )
    return {source: target for source, target in rows}


async def _both(
    session: AsyncSession, actor: User, first_id: int, second_id: int
) -> tuple[Ticket, Ticket]:
    """The two tickets, locked in id order (two merges never wait on each other in turn),
    each visible to `actor` (404) and workable by them (403)."""
    found: dict[int, Ticket] = {}
    for ticket_id in sorted({first_id, second_id}):
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or not can_see_ticket(actor, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        found[ticket_id] = ticket
    _require_staff(actor)
    for ticket in found.values():
        if not may_in_queue(actor, ticket.queue_id, "work"):
            raise PermissionDenied(f"you do not work ticket {ticket.id}'s queue")
        if ticket.archived_at is not None:
            raise Conflict(f"ticket {ticket.id} is archived; unarchive it first")
    return found[first_id], found[second_id]


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise PermissionDenied("only agents and admins merge tickets")


async def merge_tickets(desk: Desk, actor: User, source_id: int, target_id: int) -> dict[str, Any]:
    """Merge ticket `source_id` into `target_id`: {"merge_id", "ticket", "into",
    "undo_until", "moved": {"messages", "participants", "history"}}. 400: into itself;
    404: a ticket the caller may not see; 403: not staff, or not working both queues;
    409: archived, of different customers, or one of them already merged."""
    if source_id == target_id:
        raise ValidationFailed("a ticket cannot be merged into itself", field="into")
    async with desk.change() as (session, events):
        source, target = await _both(session, actor, source_id, target_id)
        for ticket, role in ((source, "merged"), (target, "merged into another")):
            held = await open_merge(session, ticket.id)
            if held is not None:
                raise Conflict(
                    f"ticket {ticket.id} is already {role} (into #{held.target_id})",
                    reason="already_merged",
                    into=held.target_id,
                )
        if source.customer_id != target.customer_id:
            raise Conflict(
                f"tickets {source.id} and {target.id} belong to different customers; only one"
                " customer's tickets are merged",
                reason="different_customers",
            )
        moved = await _move_over(session, actor, source, target)
        merge = TicketMerge(
            source_id=source.id,
            target_id=target.id,
            actor_id=actor.id,
            source_status=source.status,
            moved=moved,
            created_at=utcnow(),
        )
        session.add(merge)
        await session.flush()
        record(session, source, actor, "merged_into", None, target.id)
        record(session, target, actor, "merged_from", None, source.id)
        if source.status != Status.CLOSED:
            await move(session, desk, events, source, Status.CLOSED.value, actor, tell=False)
        source.updated_at = target.updated_at = utcnow()
        events.append(partial(_merged, source, target.id, merge.id))
        events.append(partial(ev.updated, target, ["messages"]))
    return _answer(merge, source, target)


def _merged(source: Ticket, target_id: int, merge_id: int) -> TicketMerged:
    return TicketMerged(ticket=ev.ticket_view(source), into_id=target_id, merge_id=merge_id)


def _unmerged(source: Ticket, target_id: int, merge_id: int) -> TicketUnmerged:
    return TicketUnmerged(ticket=ev.ticket_view(source), from_id=target_id, merge_id=merge_id)


def _answer(merge: TicketMerge, source: Ticket, target: Ticket) -> dict[str, Any]:
    moved = merge.moved
    return {
        "merge_id": merge.id,
        "ticket": source.id,
        "into": target.id,
        "merged_at": merge.created_at,
        "undo_until": merge.created_at + timedelta(seconds=UNDO_SECONDS),
        "undone_at": merge.undone_at,
        "moved": {
            "messages": len(moved["messages"]),
            "participants": len(moved["participants"]) + len(moved["added"]),
            "history": len(moved["history"]),
        },
    }


async def _move_over(
    session: AsyncSession, actor: User, source: Ticket, target: Ticket
) -> dict[str, Any]:
    """Move the source's rows to the target; what moved, by id, for an undo."""
    messages = list(
        await session.scalars(select(TicketMessage.id).where(TicketMessage.ticket_id == source.id))
    )
    history = list(
        await session.scalars(select(TicketChange.id).where(TicketChange.ticket_id == source.id))
    )
    known = list(
        await session.scalars(
            select(KnownMessageId.message_id).where(KnownMessageId.ticket_id == source.id)
        )
    )
    people, added = await _move_people(session, actor, source, target)
    for model, column, ids in (
        (TicketMessage, TicketMessage.id, messages),
        (TicketChange, TicketChange.id, history),
        (TicketParticipant, TicketParticipant.id, people),
    ):
        if ids:
            await session.execute(update(model).where(column.in_(ids)).values(ticket_id=target.id))
    if known:
        await session.execute(
            update(KnownMessageId)
            .where(KnownMessageId.message_id.in_(known))
            .values(ticket_id=target.id)
        )
    return {
        "messages": messages,
        "history": history,
        "participants": people,
        "added": added,
        "message_ids": known,
    }


async def _move_people(
    session: AsyncSession, actor: User, source: Ticket, target: Ticket
) -> tuple[list[int], list[int]]:
    """The source's participants the target lacks move over (ids), and the rows added to
    the target (none: both are the same customer's; merges made before that rule may have
    added the source's customer in Cc, which their undo still removes)."""
    rows = list(
        await session.scalars(
            select(TicketParticipant).where(TicketParticipant.ticket_id.in_((source.id, target.id)))
        )
    )
    at_target = {p.address for p in rows if p.ticket_id == target.id}
    moving = [p.id for p in rows if p.ticket_id == source.id and p.address not in at_target]
    return moving, []


async def unmerge_ticket(desk: Desk, actor: User, source_id: int) -> dict[str, Any]:
    """Undo the ticket's merge within UNDO_SECONDS: the same answer as the merge, with
    `undone_at`. 409 `not_merged`, or `undo_window_passed` after the minute."""
    async with desk.change() as (session, events):
        source = await session.get(Ticket, source_id)
        if source is None or not can_see_ticket(actor, source):
            raise TicketNotFound(f"no ticket {source_id}")
        _require_staff(actor)
        merge = await open_merge(session, source_id)
        if merge is None:
            raise Conflict(f"ticket {source_id} is not merged", reason="not_merged")
        try:
            source, target = await _both(session, actor, source_id, merge.target_id)
        except TicketNotFound:
            # The target is hidden from the caller: the merge is not theirs to see or undo,
            # and its number is not theirs to learn.
            raise TicketNotFound(f"no ticket {source_id}") from None
        merge = await open_merge(session, source_id)  # again, now that both are locked
        if merge is None:
            raise Conflict(f"ticket {source_id} is not merged", reason="not_merged")
        until = merge.created_at + timedelta(seconds=UNDO_SECONDS)
        if utcnow() > until:
            raise Conflict(
                f"a merge is undone within {UNDO_SECONDS} seconds; this one was at "
                f"{merge.created_at.isoformat()}",
                reason="undo_window_passed",
                undo_until=until.isoformat(),
            )
        await _move_back(session, merge, source, target)
        merge.undone_at = utcnow()
        record(session, source, actor, "merged_into", target.id, None)
        record(session, target, actor, "merged_from", source.id, None)
        if source.status != merge.source_status:
            await move(session, desk, events, source, merge.source_status, actor, tell=False)
        source.updated_at = target.updated_at = utcnow()
        events.append(partial(_unmerged, source, target.id, merge.id))
        events.append(partial(ev.updated, target, ["messages"]))
    return _answer(merge, source, target)


async def _move_back(
    session: AsyncSession, merge: TicketMerge, source: Ticket, target: Ticket
) -> None:
    """What the merge moved, back from the target (rows still there: what came later
    stays); the participants it added to the target go."""
    moved = merge.moved
    for model, column, ids in (
        (TicketMessage, TicketMessage.id, moved["messages"]),
        (TicketChange, TicketChange.id, moved["history"]),
        (TicketParticipant, TicketParticipant.id, moved["participants"]),
    ):
        if ids:
            await session.execute(
                update(model)
                .where(column.in_(ids), model.ticket_id == target.id)
                .values(ticket_id=source.id)
            )
    if moved["message_ids"]:
        await session.execute(
            update(KnownMessageId)
            .where(
                KnownMessageId.message_id.in_(moved["message_ids"]),
                KnownMessageId.ticket_id == target.id,
            )
            .values(ticket_id=source.id)
        )
    for row_id in moved["added"]:
        row = await session.get(TicketParticipant, row_id)
        if row is not None and row.ticket_id == target.id:
            await session.delete(row)


async def suggestions(db: Database, user: User, ticket_id: int) -> list[dict[str, Any]]:
    """Tickets this one might be merged into: [{"id", "subject", "status", "created_at",
    "hours_apart"}], nearest first (staff only; 404 for a ticket the caller may not see)."""
    window = timedelta(hours=SUGGEST_HOURS)
    async with db.reader() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or not can_see_ticket(user, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        _require_staff(user)
        merged = select(TicketMerge.source_id).where(TicketMerge.undone_at.is_(None))
        found = await session.scalars(
            select(Ticket)
            .where(
                Ticket.customer_id == ticket.customer_id,
                Ticket.id != ticket.id,
                Ticket.archived_at.is_(None),
                Ticket.created_at >= ticket.created_at - window,
                Ticket.created_at <= ticket.created_at + window,
                Ticket.id.not_in(merged),
                ticket_filter(user),
            )
            .limit(50)
        )
        near = sorted(found, key=lambda t: (abs(t.created_at - ticket.created_at), t.id))
    return [
        {
            "id": t.id,
            "subject": t.subject,
            "status": t.status,
            "created_at": t.created_at,
            "hours_apart": round(abs(t.created_at - ticket.created_at).total_seconds() / 3600, 2),
        }
        for t in near
    ]
