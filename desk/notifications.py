"""The bell: each person's notifications, kept until read. Written from stored events (one
listener, subscribed by the daemon in web processes), each event at most one line per person
(the event's id is unique per person, so replicas that all hear it write it once), and told
live to the person's /ws/notifications/ sockets as a `notification` frame.

What makes a line (`kind`):
    assigned          a ticket was assigned to me (ticket.assigned, to me)
    customer_replied  the customer wrote on a ticket assigned to me (message.created, inbound)
    mentioned         `@me` in a chat room I am in (chat.mention)
    new_ticket        a new unassigned ticket in a queue where I asked for those
                      (ticket.created; the member's `notify_new_tickets`), unless I
                      opened it (its first message is mine)
    undelivered       the outbox gave up on a reply I wrote (refused for good by the
                      relay, or 48 hours of temporary refusals): written by the sender
                      (`tell_undelivered`), not from an event, its `event_id` the outbox
                      row's (`outbox:<id>`)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import Desk
from desk.db import Database, insert_ignoring_conflicts
from desk.errors import NotFound
from desk.events import Event
from desk.events.chat import ChatMention
from desk.events.people import NotificationAdded
from desk.events.tickets import MessageCreated, TicketAssigned, TicketCreated
from desk.models import (
    MessageKind,
    Notification,
    OutboxMail,
    QueueMember,
    Role,
    TicketMessage,
    User,
    utcnow,
)

KINDS = (TicketAssigned, MessageCreated, ChatMention, TicketCreated)


def notification_data(n: Notification) -> dict[str, Any]:
    """{id, kind, text, ticket_id, room_id, event_id, created_at, read_at, is_read}"""
    return {
        "id": n.id,
        "kind": n.kind,
        "text": n.text,
        "ticket_id": n.ticket_id,
        "room_id": n.room_id,
        "event_id": n.event_id,
        "created_at": n.created_at.isoformat(),
        "read_at": None if n.read_at is None else n.read_at.isoformat(),
        "is_read": n.read_at is not None,
    }


def _lines(
    event: Event, watchers: dict[int, list[int]], openers: dict[int, int | None]
) -> list[dict[str, Any]]:
    """Who the event notifies, with what: rows to insert. `watchers`: by queue id, who
    asked for that queue's new tickets; `openers`: by ticket id, who wrote the first
    message of a new ticket, never told of their own (`_watchers`)."""
    base = {"event_id": event.id, "created_at": event.at}
    if isinstance(event, TicketAssigned) and event.new_agent_id is not None:
        t = event.ticket
        text = f"#{t.id} {t.subject} was assigned to you"
        return [{**base, **_line(event.new_agent_id, "assigned", t.id, text)}]
    if isinstance(event, MessageCreated):
        t, m = event.ticket, event.message
        if m.kind != MessageKind.INBOUND or t.assigned_agent_id is None or m.is_automatic:
            return []
        text = f"The customer replied on #{t.id} {t.subject}"
        return [{**base, **_line(t.assigned_agent_id, "customer_replied", t.id, text)}]
    if isinstance(event, ChatMention):
        who = event.message.author.name or event.message.author.email or "someone"
        text = f"{who} mentioned you: {event.message.body[:200]}"
        return [
            {
                **base,
                "user_id": event.user_id,
                "kind": "mentioned",
                "room_id": event.room_id,
                "text": text,
            }
        ]
    if _unassigned_new(event):
        t = event.ticket
        text = f"New ticket #{t.id} {t.subject}"
        opener = openers.get(t.id)
        return [
            {**base, **_line(i, "new_ticket", t.id, text)}
            for i in watchers.get(t.queue_id, [])
            if i != opener
        ]
    return []


def _unassigned_new(event: Event) -> TypeGuard[TicketCreated]:
    return isinstance(event, TicketCreated) and event.ticket.assigned_agent_id is None


async def _watchers(
    db: Database, events: list[Event]
) -> tuple[dict[int, list[int]], dict[int, int | None]]:
    """Active agents and admins who asked for the new tickets of the queues the events
    open unassigned tickets in, by queue id, and who opened each of those tickets (the
    author of its first message), by ticket id: two queries for a whole batch of mail."""
    new = [e for e in events if _unassigned_new(e)]
    queues = {e.ticket.queue_id for e in new}
    if not queues:
        return {}, {}
    async with db.reader() as session:
        first = (
            select(TicketMessage.ticket_id, func.min(TicketMessage.id).label("first"))
            .where(TicketMessage.ticket_id.in_({e.ticket.id for e in new}))
            .group_by(TicketMessage.ticket_id)
            .subquery()
        )
        authors = await session.execute(
            select(TicketMessage.ticket_id, TicketMessage.author_id).join(
                first, TicketMessage.id == first.c.first
            )
        )
        openers: dict[int, int | None] = {t: a for t, a in authors.all()}
        rows = await session.execute(
            select(QueueMember.queue_id, User.id)
            .join(QueueMember, QueueMember.user_id == User.id)
            .where(
                QueueMember.queue_id.in_(queues),
                QueueMember.notify_new_tickets.is_(True),
                User.is_active.is_(True),
                User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
            )
            .order_by(User.id)
        )
        found: dict[int, list[int]] = {}
        for queue_id, user_id in rows.all():
            found.setdefault(queue_id, []).append(user_id)
    return found, openers


def _line(user_id: int, kind: str, ticket_id: int, text: str) -> dict[str, Any]:
    """One bell line about a ticket, for `user_id` (the row's own fields)."""
    return {"user_id": user_id, "kind": kind, "ticket_id": ticket_id, "text": text}


class Notifier:
    """The bus listener that writes the lines and tells them live."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def on_events(self, events: list[Event]) -> None:
        """The lines of a publish's events, written in one transaction (a batch of mail
        publishes one ticket.created per mail: one lookup of the queues' watchers)."""
        # Only stored events: their id is the same everywhere.
        stored = [e for e in events if e.id.isdigit()]
        watchers, openers = await _watchers(self._desk.db, stored)
        lines = [line for e in stored for line in _lines(e, watchers, openers)]
        if not lines:
            return
        async with self._desk.db.writer() as session:
            added = await _write(session, lines)
        await self._desk.bus.publish(added)


async def _write(session: AsyncSession, lines: list[dict[str, Any]]) -> list[NotificationAdded]:
    """Insert `lines` (each once per person and event id) and return what to tell live:
    the lines this process wrote (another that wrote one first tells it)."""
    added: list[NotificationAdded] = []
    for line in lines:
        line["text"] = line["text"][:500]
        new_id = await session.scalar(
            insert_ignoring_conflicts(session, Notification)
            .values(**{"ticket_id": None, "room_id": None, **line})
            .returning(Notification.__table__.c.id)
        )
        if new_id is None:  # another process wrote it first, and tells it
            continue
        row = await session.get(Notification, new_id)
        if row is not None:
            told = NotificationAdded(user_id=row.user_id, notification=notification_data(row))
            added.append(told)
    return added


async def tell_undelivered(
    desk: Desk, outbox_id: int, reason: str, addresses: Sequence[str] = ()
) -> None:
    """The outbox gave up on `outbox_id` (`reason`, readable): if it is a reply, its author
    hears of it on the bell, linking to the ticket. `addresses`: the recipients it failed
    for (the ones refused), else all it was written to."""
    async with desk.db.writer() as session:
        row = await session.get(OutboxMail, outbox_id)
        if row is None or row.kind != "reply" or row.ticket_id is None:
            return
        author = await session.scalar(
            select(User)
            .join(TicketMessage, TicketMessage.author_id == User.id)
            .where(
                TicketMessage.message_id == row.message_id,
                TicketMessage.kind == MessageKind.OUTBOUND.value,
            )
        )
        if author is None or not author.is_active or not author.is_staff:
            return
        who = ", ".join(addresses or _written_to(row))
        text = f"Your reply on #{row.ticket_id} to {who} was not delivered: {reason}"
        line = {"event_id": f"outbox:{row.id}", "created_at": utcnow()}
        line |= _line(author.id, "undelivered", row.ticket_id, text)
        added = await _write(session, [line])
    await desk.bus.publish(added)


def _written_to(row: OutboxMail) -> list[str]:
    """Everyone an outbox row was written to: its recipient, its other To and its Cc."""
    spec = row.spec or {}
    rest = [str(pair[1]) for key in ("also_to", "cc") for pair in spec.get(key) or ()]
    return list(dict.fromkeys([row.recipient, *rest]))


async def list_for(
    db: Database, user: User, *, unread: bool, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]], bool]:
    """The caller's notifications, newest first: (count, page, more after it)."""
    where = [Notification.user_id == user.id]
    if unread:
        where.append(Notification.read_at.is_(None))
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(Notification).where(*where))
        rows = await session.scalars(
            select(Notification)
            .where(*where)
            .order_by(Notification.id.desc())
            .offset(offset)
            .limit(limit)
        )
        results = [notification_data(n) for n in rows]
    total = count or 0
    return total, results, offset + len(results) < total


async def unread_count(db: Database, user: User) -> int:
    """How many of the caller's notifications are unread (the bell's number): one count,
    no rows read."""
    async with db.reader() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
    return int(count or 0)


async def mark_read(db: Database, user: User, notification_id: int) -> dict[str, Any]:
    """One of the caller's notifications, read (404 for anyone else's)."""
    async with db.writer() as session:
        row = await session.get(Notification, notification_id)
        if row is None or row.user_id != user.id:
            raise NotFound(f"no notification {notification_id}")
        if row.read_at is None:
            row.read_at = utcnow()
        return notification_data(row)


async def mark_all_read(db: Database, user: User) -> int:
    """Every unread notification of the caller, read; how many there were."""
    async with db.writer() as session:
        done = await session.execute(
            update(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        return int(getattr(done, "rowcount", 0) or 0)
