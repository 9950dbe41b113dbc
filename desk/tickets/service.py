"""New tickets and new messages: every ticket and every message is created here, whether it
came by mail (desk/processing.py) or through the API, with what a message does to its
ticket (a customer writing again reopens it). Each function works inside the caller's
transaction and appends the events that go out after it commits.

Other changes to tickets are written elsewhere: desk/tickets/workflow.py moves status,
assigns, archives and edits subject, priority and tags (the scheduled jobs go through it
too); desk/people.py and desk/companies.py move a customer's tickets with the customer
when their company changes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, can_write_note, may_in_queue
from desk.blobs import blob_path
from desk.config import Settings
from desk.context import Desk, PendingEvent
from desk.errors import Conflict, ValidationFailed
from desk.mail.compose import Outgoing
from desk.mail.headers import is_plain_address
from desk.mail.reply_token import reply_address
from desk.mail.threading import subject_tag
from desk.models import (
    Attachment,
    MessageKind,
    Queue,
    Status,
    Ticket,
    TicketMessage,
    User,
    utcnow,
)
from desk.outbox import AutoReplyBudget, queue_mail
from desk.people import customer_for_email
from desk.queues.notify import tell_queue
from desk.queues.routing import default_queue_id, sending_address
from desk.tickets import events as ev
from desk.tickets.errors import NotAllowedOnTicket, TicketNotFound
from desk.tickets.history import record
from desk.tickets.notify import notify
from desk.tickets.thread import Thread, conversation
from desk.uploads import Upload

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
    queue_id: int,
    linked_ticket_id: int | None = None,
) -> Ticket:
    """Add a new ticket to the session, in queue `queue_id`; its id comes with the next
    flush."""
    now = utcnow()  # one moment for both: a ticket is never changed before it was opened
    ticket = Ticket(
        queue_id=queue_id,
        subject=subject or "(no subject)",
        customer_id=customer.id,
        company_id=customer.company_id,
        linked_ticket_id=linked_ticket_id,
        created_at=now,
        updated_at=now,
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
        _customer_wrote(session, ticket, events)
    events.append(partial(ev.message_created, ticket, message))
    return message


def _customer_wrote(session: AsyncSession, ticket: Ticket, events: list[PendingEvent]) -> None:
    new = _CUSTOMER_WROTE.get(ticket.status)
    if new is None:
        return
    if ticket.assigned_agent_id is not None:
        new = Status.ASSIGNED.value
    old, ticket.status, ticket.resolved_at = ticket.status, new, None
    record(session, ticket, ticket.customer_id, "status", old, new)
    events.append(partial(ev.status_changed, ticket, old))


async def acknowledge(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    customer: User,
    thread: Thread,
    budget: AutoReplyBudget,
) -> bool:
    """The automatic 'we got it' mail for a new ticket, if the per-hour cap allows. It
    answers the customer's mail, so it is `auto-replied` (RFC 3834)."""
    if not budget.take(customer.email):
        return False
    return await notify(
        session,
        desk,
        ticket,
        customer,
        "acknowledgement",
        thread=thread,
        auto_submitted="auto-replied",
        customer_name=customer.name,
    )


async def create_ticket(
    desk: Desk,
    actor: User,
    *,
    subject: str,
    description: str,
    priority: str,
    customer_email: str | None = None,
    uploads: Sequence[Upload] = (),
    queue_id: int | None = None,
) -> Ticket:
    """A ticket opened through the API: a customer's own, or one an agent opens on a
    customer's behalf, in the default queue or (staff) one of the opener's queues. Either
    way the customer gets the acknowledgement a mail would get, and the queue's members
    hear of it."""
    async with desk.change() as (session, events):
        customer = await _customer_of_new_ticket(session, actor, customer_email)
        queue = await _queue_of_new_ticket(session, actor, queue_id)
        ticket = open_ticket(session, events, customer=customer, subject=subject, queue_id=queue)
        ticket.priority = priority
        message = TicketMessage(
            kind=MessageKind.INBOUND.value,
            source="web",
            author_id=actor.id,
            sender_email=actor.email,
            subject=subject,
            body_text=description,
            body_new=description,
        )
        add_message(session, events, ticket, message)
        _attach(session, message, uploads)
        await session.flush()
        budget = AutoReplyBudget(desk.settings.auto_reply_per_hour)
        await budget.load(session, {customer.email})
        await acknowledge(session, desk, ticket, customer, Thread(None, []), budget)
        await tell_queue(session, desk, ticket, actor)
    return ticket


async def _queue_of_new_ticket(session: AsyncSession, actor: User, queue_id: int | None) -> int:
    """The default queue, unless staff name a queue they work in (customers cannot choose:
    their mail and web tickets land where the desk routes them)."""
    if queue_id is None:
        return await default_queue_id(session)
    if not actor.is_staff:
        raise NotAllowedOnTicket("customers do not choose a queue", field="queue")
    if await session.get(Queue, queue_id) is None or not may_in_queue(actor, queue_id, "work"):
        raise ValidationFailed(f"no queue {queue_id} you work in", field="queue")
    return queue_id


async def _customer_of_new_ticket(
    session: AsyncSession, actor: User, customer_email: str | None
) -> User:
    if not actor.is_staff:
        if customer_email and customer_email.strip().lower() != actor.email:
            raise NotAllowedOnTicket("a customer opens tickets for themselves only")
        return actor
    if not customer_email:
        raise ValidationFailed("give the customer's email", field="customer_email")
    if not is_plain_address(customer_email.strip().lower()):
        raise ValidationFailed("not an email address", field="customer_email")
    customer = await customer_for_email(session, customer_email)
    if customer.is_staff or not customer.is_active:
        raise ValidationFailed("tickets are opened for active customers", field="customer_email")
    return customer


def _attach(session: AsyncSession, message: TicketMessage, uploads: Sequence[Upload]) -> None:
    session.add_all(
        Attachment(
            message=message,
            filename=u.filename,
            content_type=u.content_type,
            size=u.size,
            sha256=u.sha256,
        )
        for u in uploads
    )


async def post_message(
    desk: Desk,
    actor: User,
    ticket_id: int,
    body: str,
    is_internal: bool,
    uploads: Sequence[Upload] = (),
) -> TicketMessage:
    """A message written through the API, in one transaction with everything it causes: a
    staff member's public reply is queued to the customer; a customer's message is mailed
    to the assigned agent (unless they turned that off); an internal note is mailed to the
    assigned agent only, never to the customer."""
    async with desk.change() as (session, events):
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or not can_see_ticket(actor, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        if is_internal and not can_write_note(actor):
            raise NotAllowedOnTicket("only agents and admins write internal notes")
        if ticket.archived_at is not None:
            raise Conflict(f"ticket {ticket_id} is archived; unarchive it first")
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
            await _mail_reply(session, desk, ticket, actor, message, uploads)
        add_message(session, events, ticket, message)
        _attach(session, message, uploads)
        await tell_assignee(session, desk, ticket, message, actor)
    return message


async def tell_assignee(
    session: AsyncSession, desk: Desk, ticket: Ticket, message: TicketMessage, actor: User | None
) -> None:
    """Mail the assigned agent about a customer's reply or a colleague's internal note."""
    if ticket.assigned_agent_id is None or message.kind == MessageKind.OUTBOUND:
        return
    agent = await session.get(User, ticket.assigned_agent_id)
    if agent is None:
        return
    if message.kind == MessageKind.INBOUND:
        if agent.notify_on_reply:
            await notify(
                session,
                desk,
                ticket,
                agent,
                "customer_replied",
                actor=actor,
                body=message.body_new or message.body_text,
            )
    else:
        await notify(
            session, desk, ticket, agent, "internal_note", actor=actor, body=message.body_text
        )


def _kind_for(actor: User, is_internal: bool) -> str:
    if is_internal:
        return MessageKind.NOTE.value
    return MessageKind.OUTBOUND.value if actor.is_staff else MessageKind.INBOUND.value


async def _mail_reply(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    agent: User,
    message: TicketMessage,
    uploads: Sequence[Upload],
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
        from_address=await sending_address(session, ticket, s),
        reply_to=reply_address(ticket.id, s.secret_key, s.support_address),
        subject=subject,
        template="reply",
        context=_reply_context(s, ticket, agent, message),
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        attachments=_attachments(s, uploads),
    )
    row = await queue_mail(session, out, ticket_id=ticket.id, kind="reply")
    message.message_id = row.message_id
    message.subject = subject


def _reply_context(
    s: Settings, ticket: Ticket, agent: User, message: TicketMessage
) -> dict[str, Any]:
    return {
        "body": message.body_text,
        "agent_name": agent.name or s.desk_name,
        "ticket_id": ticket.id,
        "desk_name": s.desk_name,
    }


def _attachments(s: Settings, uploads: Sequence[Upload]) -> list[dict[str, str]]:
    """The stored files of `uploads`, as the reply's attachments."""
    return [
        {
            "filename": u.filename,
            "content_type": u.content_type,
            "path": str(blob_path(s.attachments_dir, u.sha256)),
        }
        for u in uploads
    ]
