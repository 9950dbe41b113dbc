"""Deleting a ticket (S0's and S3's DELETE; site admins only): the ticket goes with its
messages, attachments (their files too, unless another row names the same bytes), history,
tags, participants, time entries, stored events and known Message-IDs, in one transaction.
What only points at it stays, cut loose: raw inbound mail keeps its digest with its bytes
dropped (so a redelivered copy of the same mail is still recognised and does not open the
ticket again), outgoing mail keeps its log line with its content dropped (unsent mail is
never sent), bounces and tickets opened as follow-ups lose their link.

Ids are never given again (migration 0021; sequences on PostgreSQL), so the deleted
ticket's `[#id]` subject tag and reply token name nothing: a later reply to its thread
finds no ticket by any rule of desk/mail/threading.py and opens a new one.

An audit entry records who deleted which ticket and how much went with it (no subject or
text: the point of deleting is that they are gone); a `ticket.deleted` event tells the
ticket's sockets and the webhooks, as deleting a chat message or room does."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.blobs import delete_blobs
from desk.context import Desk
from desk.erasure import still_named
from desk.errors import Conflict, PermissionDenied
from desk.events.tickets import TicketDeleted
from desk.models import (
    Attachment,
    AuditEntry,
    EventRecord,
    InboundMail,
    KnownMessageId,
    Notification,
    OutboxMail,
    OutboxState,
    Role,
    Suppression,
    Ticket,
    TicketChange,
    TicketMerge,
    TicketMessage,
    TicketParticipant,
    TicketTag,
    TimeEntry,
    User,
    WebhookDelivery,
    utcnow,
)
from desk.tickets.errors import TicketNotFound
from desk.tickets.events import ticket_view

# Every column that refers to a ticket, a message or an attachment, and which
# delete_ticket deals with itself; any other reference must delete or clear itself
# (ON DELETE CASCADE / SET NULL), as tests/test_ticket_deletion.py checks for every table.
HANDLED_REFERENCES = frozenset(
    {
        "tickets.linked_ticket_id",
        "ticket_messages.ticket_id",
        "ticket_participants.ticket_id",
        "ticket_tags.ticket_id",
        "ticket_changes.ticket_id",
        "known_message_ids.ticket_id",
        "time_entries.ticket_id",
        "inbound_mail.ticket_id",
        "outbox.ticket_id",
        "suppressions.ticket_id",
        "attachments.ticket_message_id",
        "attachments.forwarded_in_id",
        "ticket_merges.source_id",
        "ticket_merges.target_id",
    }
)


@dataclass(frozen=True)
class Deleted:
    ticket_id: int
    messages: int
    attachments: int
    time_entries: int


async def delete_ticket(desk: Desk, actor: User, ticket_id: int) -> Deleted:
    """Delete the ticket (TicketNotFound: there is none; PermissionDenied: `actor` is not
    an active site admin)."""
    if not (actor.is_active and actor.role == Role.ADMIN):
        raise PermissionDenied("only admins delete tickets")
    async with desk.change() as (session, events):
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        await _refuse_merge_target(session, ticket_id)
        view = ticket_view(ticket)
        mine = TicketMessage.ticket_id == ticket_id
        message_ids = list(await session.scalars(select(TicketMessage.id).where(mine)))
        digests, attachments = await _drop_attachments(session, message_ids)
        spent = delete(TimeEntry).where(TimeEntry.ticket_id == ticket_id)
        entries = await _count_deleted(session, spent)
        for table in (TicketTag, TicketChange, TicketParticipant, KnownMessageId):
            await session.execute(delete(table).where(table.ticket_id == ticket_id))
        await _cut_loose(session, ticket_id)
        await _forget_workspace(session, ticket_id)
        await _drop_events(session, ticket_id)
        await session.execute(delete(TicketMessage).where(TicketMessage.id.in_(message_ids)))
        await session.execute(delete(Ticket).where(Ticket.id == ticket_id))
        done = Deleted(ticket_id, len(message_ids), attachments, entries)
        session.add(
            AuditEntry(
                actor_id=actor.id,
                action="ticket.deleted",
                target=f"ticket:{ticket_id}",
                details={
                    **asdict(done),
                    "queue_id": view.queue_id,
                    "customer_id": view.customer_id,
                    "status": view.status,
                    "created_at": view.created_at.isoformat(),
                },
            )
        )
        # Stored after the ticket's own events were deleted: the one that stays.
        events.append(TicketDeleted(ticket=view))
    unused = digests - await still_named(desk, digests)
    await asyncio.to_thread(delete_blobs, desk.settings.attachments_dir, unused)
    return done


async def _drop_attachments(session: AsyncSession, message_ids: list[int]) -> tuple[set[str], int]:
    """The attachment rows of the messages; their digests (the files go after commit)."""
    rows = (
        await session.execute(
            select(Attachment.id, Attachment.sha256).where(
                Attachment.ticket_message_id.in_(message_ids)
            )
        )
    ).all()
    ids = [r.id for r in rows]
    # A forwarded message's files point at its .eml (same ticket): unlink them first.
    await session.execute(
        update(Attachment).where(Attachment.id.in_(ids)).values(forwarded_in_id=None)
    )
    await session.execute(delete(Attachment).where(Attachment.id.in_(ids)))
    return {r.sha256 for r in rows}, len(ids)


async def _cut_loose(session: AsyncSession, ticket_id: int) -> None:
    """Rows that only point at the ticket stay, without the link (and without content)."""
    await session.execute(
        update(InboundMail)
        .where(InboundMail.ticket_id == ticket_id)
        .values(ticket_id=None, raw=b"", raw_removed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    ours = OutboxMail.ticket_id == ticket_id
    unsent = OutboxMail.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value])
    await session.execute(
        update(OutboxMail)
        .where(ours, unsent)
        .values(state=OutboxState.FAILED.value, last_error="the ticket was deleted")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMail)
        .where(ours)
        .values(ticket_id=None, raw=None, spec=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Suppression).where(Suppression.ticket_id == ticket_id).values(ticket_id=None)
    )
    await session.execute(
        update(Ticket).where(Ticket.linked_ticket_id == ticket_id).values(linked_ticket_id=None)
    )


async def _refuse_merge_target(session: AsyncSession, ticket_id: int) -> None:
    """409 (`details.reason` "merge_target", `details.merged` the ids) for a ticket others
    are merged into now: their messages live in it, so deleting it would silently take
    their conversations too and leave them un-merged. Unmerge them (within the undo
    window) or delete them first; a merge undone long ago no longer counts."""
    merged = sorted(
        await session.scalars(
            select(TicketMerge.source_id).where(
                TicketMerge.target_id == ticket_id, TicketMerge.undone_at.is_(None)
            )
        )
    )
    if merged:
        names = ", ".join(f"#{i}" for i in merged)
        raise Conflict(
            f"tickets {names} are merged into this one; delete them first",
            reason="merge_target",
            merged=merged,
        )


async def _forget_workspace(session: AsyncSession, ticket_id: int) -> None:
    """Merges the ticket took part in (nothing is left to undo) and bell lines about it
    (they quote its subject) go with it."""
    await session.execute(
        delete(TicketMerge).where(
            or_(TicketMerge.source_id == ticket_id, TicketMerge.target_id == ticket_id)
        )
    )
    await session.execute(delete(Notification).where(Notification.ticket_id == ticket_id))


async def _drop_events(session: AsyncSession, ticket_id: int) -> None:
    """The ticket's stored events go (their payloads carry its text); webhook deliveries
    of them keep their log with the payload emptied, as an erasure leaves them."""
    event_ids = select(EventRecord.id).where(EventRecord.ticket_id == ticket_id)
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.event_id.in_(event_ids))
        .values(payload={"deleted": True})
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(EventRecord).where(EventRecord.ticket_id == ticket_id))


async def _count_deleted(session: AsyncSession, statement: Any) -> int:
    done = await session.execute(statement)
    return int(getattr(done, "rowcount", 0) or 0)
