"""The only writer of tickets and their messages. Each function works inside the caller's
transaction and appends the events that go out after it commits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, can_write_note
from desk.context import Desk, PendingEvent
from desk.mail.compose import Outgoing, UnsafeHeader
from desk.mail.reply_token import reply_address
from desk.mail.threading import subject_tag
from desk.models import (
    KnownMessageId,
    MessageKind,
    Status,
    Ticket,
    TicketMessage,
    User,
    utcnow,
)
from desk.outbox import AutoReplyBudget, queue_mail
from desk.tickets import events as ev
from desk.tickets.errors import NotAllowedOnTicket, TicketNotFound

log = logging.getLogger(__name__)

# A customer writing again moves the ticket back to the team.
_CUSTOMER_WROTE = {
    Status.RESOLVED.value: Status.OPEN.value,
    Status.WAITING_ON_CUSTOMER.value: Status.OPEN.value,
}


def is_finished(ticket: Ticket) -> bool:
    """A closed or archived ticket is not reopened by mail: the reply opens a new one."""
    return ticket.status == Status.CLOSED.value or ticket.archived_at is not None


def open_ticket(
    session: AsyncSession,
    events: list[PendingEvent],
    *,
    customer: User,
    subject: str,
    linked_ticket_id: int | None = None,
) -> Ticket:
    """Add a new ticket to the session; its id comes with the next flush."""
    ticket = Ticket(
        subject=subject or "(no subject)",
        customer_id=customer.id,
        linked_ticket_id=linked_ticket_id,
    )
    session.add(ticket)
    events.append(partial(ev.ticket_created, ticket))
    return ticket


def add_message(
    session: AsyncSession, events: list[PendingEvent], ticket: Ticket, message: TicketMessage
) -> TicketMessage:
    """Add a message to a ticket (which may not have an id yet); a customer writing again
    reopens a resolved ticket or one that waited on them."""
    message.ticket = ticket
    session.add(message)
    ticket.updated_at = utcnow()
    if message.kind == MessageKind.INBOUND and message.author_id == ticket.customer_id:
        _customer_wrote(ticket, events)
    events.append(partial(ev.message_created, ticket, message))
    return message


def _customer_wrote(ticket: Ticket, events: list[PendingEvent]) -> None:
    new = _CUSTOMER_WROTE.get(ticket.status)
    if new is None:
        return
    if ticket.assigned_agent_id is not None:
        new = Status.ASSIGNED.value
    old, ticket.status, ticket.resolved_at = ticket.status, new, None
    events.append(partial(ev.status_changed, ticket, old))


@dataclass(frozen=True)
class Thread:
    in_reply_to: str | None
    references: list[str]


async def conversation(session: AsyncSession, ticket_id: int) -> Thread:
    """In-Reply-To names the customer's latest mail; References the whole conversation."""
    ids = list(
        await session.scalars(
            select(KnownMessageId.message_id)
            .where(KnownMessageId.ticket_id == ticket_id)
            .order_by(KnownMessageId.created_at, KnownMessageId.message_id)
        )
    )
    latest_inbound = await session.scalar(
        select(TicketMessage.message_id)
        .where(
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.kind == MessageKind.INBOUND,
            TicketMessage.message_id.is_not(None),
        )
        .order_by(TicketMessage.id.desc())
        .limit(1)
    )
    return Thread(in_reply_to=latest_inbound or (ids[-1] if ids else None), references=ids)


async def acknowledge(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    customer: User,
    thread: Thread,
    budget: AutoReplyBudget,
) -> bool:
    """The automatic 'we got it' mail for a new ticket, if the per-hour cap allows."""
    s = desk.settings
    if not budget.take(customer.email):
        return False
    out = Outgoing(
        to_address=customer.email,
        to_name=customer.name,
        from_name=s.desk_name,
        from_address=s.support_address,
        reply_to=reply_address(ticket.id, s.secret_key, s.support_address),
        subject=f"{subject_tag(ticket.id, s.ticket_prefix)} {ticket.subject}",
        template="acknowledgement",
        context={
            "customer_name": customer.name,
            "ticket_id": ticket.id,
            "subject": ticket.subject,
            "desk_name": s.desk_name,
        },
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        automatic=True,
    )
    try:
        await queue_mail(session, out, ticket_id=ticket.id, kind="acknowledgement")
    except UnsafeHeader:
        # The ticket matters more than its acknowledgement: keep it, skip the mail.
        log.warning("ticket %s: acknowledgement not composed safely; not sent", ticket.id)
        return False
    return True


async def post_message(
    desk: Desk, actor: User, ticket_id: int, body: str, is_internal: bool
) -> TicketMessage:
    """A message written through the API. A staff member's public reply is mailed to the
    customer in the same transaction (outbox); an internal note never is."""
    async with desk.change() as (session, events):
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or not can_see_ticket(actor, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        if is_internal and not can_write_note(actor):
            raise NotAllowedOnTicket("only agents and admins write internal notes")
        kind = _kind_for(actor, is_internal)
        message = TicketMessage(
            kind=kind,
            source="web",
            author_id=actor.id,
            sender_email=actor.email,
            body_text=body,
            body_new=body,
        )
        if kind == MessageKind.OUTBOUND:
            await _mail_reply(session, desk, ticket, actor, message)
        add_message(session, events, ticket, message)
    return message


def _kind_for(actor: User, is_internal: bool) -> str:
    if is_internal:
        return MessageKind.NOTE.value
    return MessageKind.OUTBOUND.value if actor.is_staff else MessageKind.INBOUND.value


async def _mail_reply(
    session: AsyncSession, desk: Desk, ticket: Ticket, agent: User, message: TicketMessage
) -> None:
    s = desk.settings
    customer = await session.get(User, ticket.customer_id)
    assert customer is not None
    thread = await conversation(session, ticket.id)
    subject = f"Re: {subject_tag(ticket.id, s.ticket_prefix)} {ticket.subject}"
    out = Outgoing(
        to_address=customer.email,
        to_name=customer.name,
        from_name=f"{agent.name or agent.email} ({s.desk_name})",
        from_address=s.support_address,
        reply_to=reply_address(ticket.id, s.secret_key, s.support_address),
        subject=subject,
        template="reply",
        context={
            "body": message.body_text,
            "agent_name": agent.name or s.desk_name,
            "ticket_id": ticket.id,
            "desk_name": s.desk_name,
        },
        in_reply_to=thread.in_reply_to,
        references=thread.references,
    )
    row = await queue_mail(session, out, ticket_id=ticket.id, kind="reply")
    message.message_id = row.message_id
    message.subject = subject
