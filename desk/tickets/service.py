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
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket, can_write_note, may_in_queue
from desk.blobs import blob_path
from desk.config import Settings
from desk.context import Desk, PendingEvent
from desk.errors import ValidationFailed
from desk.mail.compose import Outgoing
from desk.mail.headers import is_plain_address
from desk.mail.reply_token import reply_address
from desk.mail.threading import tagged_subject
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
from desk.queues.routing import QueueRoutes, default_queue_id, sender_name, sending_address
from desk.tickets import events as ev
from desk.tickets import participants
from desk.tickets.errors import NotAllowedOnTicket, TicketNotFound
from desk.tickets.guard import require_writable
from desk.tickets.history import record
from desk.tickets.notify import answering_address, notify
from desk.tickets.participants import NOBODY, Person, Recipients
from desk.tickets.queries import attachment_data
from desk.tickets.thread import Thread, conversation
from desk.tickets.workflow import change_status
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
    session: AsyncSession,
    events: list[PendingEvent],
    ticket: Ticket,
    message: TicketMessage,
    *,
    by_customer: bool | None = None,
) -> TicketMessage:
    """Add a message to a ticket (which may not have an id yet); a customer writing again
    reopens a resolved ticket or one that waited on them (not an imported old mail).
    `by_customer`: whether the author speaks for the customer (default: is the customer;
    intake also counts the ticket's participants, who write in as the customer does).
    Automatic mail (an out-of-office reply, a bounce) is kept on the ticket and changes
    nothing of it."""
    message.ticket = ticket
    session.add(message)
    if not message.is_automatic:
        ticket.updated_at = utcnow()
    if by_customer is None:
        by_customer = message.author_id == ticket.customer_id
    customer_wrote = message.kind == MessageKind.INBOUND and by_customer
    # Imported history and automatic mail move no ticket.
    if customer_wrote and message.source != "import" and not message.is_automatic:
        _customer_wrote(session, ticket, events, message.author_id)
    events.append(partial(ev.message_created, ticket, message))
    return message


def _customer_wrote(
    session: AsyncSession, ticket: Ticket, events: list[PendingEvent], author_id: int | None
) -> None:
    new = _CUSTOMER_WROTE.get(ticket.status)
    if new is None:
        return
    if ticket.assigned_agent_id is not None:
        new = Status.ASSIGNED.value
    old, ticket.status, ticket.resolved_at = ticket.status, new, None
    record(session, ticket, author_id or ticket.customer_id, "status", old, new)
    events.append(partial(ev.status_changed, ticket, old))


async def acknowledge(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    customer: User,
    thread: Thread,
    budget: AutoReplyBudget,
    routes: QueueRoutes | None = None,
) -> bool:
    """The automatic 'we got it' mail for a new ticket, if the per-hour cap allows. It
    answers the customer's mail, so it is `auto-replied` (RFC 3834). `routes`: as for
    `notify`."""
    if customer.email not in budget.suppressed and not budget.take(customer.email):
        return False
    return await notify(
        session,
        desk,
        ticket,
        customer,
        "acknowledgement",
        thread=thread,
        auto_submitted="auto-replied",
        suppressed=budget.suppressed,
        routes=routes,
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
    cc: Sequence[str] | None = None,
    queue_id: int | None = None,
) -> Ticket:
    """A ticket opened through the API, in the default queue or (staff) one of the
    opener's queues; the queue's members hear of it. A customer's own is acknowledged as a
    mail would be. One staff open for a customer starts the conversation: the staff
    member's text is a public reply, the first mail the customer gets (no acknowledgement),
    with `cc` copied (ValidationFailed names `cc` when a customer gives it, or it is bad).
    Staff who name no customer open an internal ticket (S1's staff create tickets so): they
    are its requester, and nobody is mailed."""
    kind = MessageKind.OUTBOUND if actor.is_staff else MessageKind.INBOUND
    change = _recipient_change(desk.settings, kind, None, cc)
    async with desk.change() as (session, events):
        customer = await _customer_of_new_ticket(session, actor, customer_email)
        queue = await _queue_of_new_ticket(session, actor, queue_id)
        ticket = open_ticket(session, events, customer=customer, subject=subject, queue_id=queue)
        ticket.priority = priority
        by_desk = actor.is_staff
        message = TicketMessage(
            kind=(MessageKind.OUTBOUND if by_desk else MessageKind.INBOUND).value,
            source="web",
            author_id=actor.id,
            sender_email=actor.email,
            subject=subject,
            body_text=description,
            body_new=description,
        )
        add_message(session, events, ticket, message)
        _attach(session, message, uploads)
        participants.start(session, ticket, customer, [])
        await session.flush()
        if customer.is_staff:
            pass  # an internal ticket: nobody to mail
        elif by_desk:
            await _mail_reply(session, desk, ticket, actor, message, uploads, change, first=True)
        else:
            budget = AutoReplyBudget(desk.settings.auto_reply_per_hour)
            await budget.load(session, {customer.email})
            await acknowledge(session, desk, ticket, customer, Thread(None, []), budget)
        await tell_queue(session, desk, ticket, actor)
    return ticket


async def _queue_of_new_ticket(session: AsyncSession, actor: User, queue_id: int | None) -> int:
    """The default queue, unless staff name a queue they work in (customers cannot choose:
    their mail and web tickets land where the desk routes them). Staff who name none get
    the default queue if they work in it, else their only queue, else a 400 asking for
    `queue`: a ticket is never opened where its opener could not see it."""
    if queue_id is None:
        default = await default_queue_id(session)
        if not actor.is_staff or may_in_queue(actor, default, "work"):
            return default
        mine = sorted({m.queue_id for m in actor.memberships})
        if len(mine) == 1:
            return mine[0]
        raise ValidationFailed(
            "you do not work in the default queue: name the `queue` to open the ticket in",
            field="queue",
        )
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
        return actor  # an internal ticket: the staff member is its requester
    if not is_plain_address(customer_email.strip().lower()):
        raise ValidationFailed("not an email address", field="customer_email")
    customer = await customer_for_email(session, customer_email)
    if customer.is_staff or not customer.is_active:
        raise ValidationFailed("tickets are opened for active customers", field="customer_email")
    return customer


def _attach(
    session: AsyncSession, message: TicketMessage, uploads: Sequence[Upload]
) -> list[Attachment]:
    rows = [
        Attachment(
            message=message,
            filename=u.filename,
            content_type=u.content_type,
            size=u.size,
            sha256=u.sha256,
        )
        for u in uploads
    ]
    session.add_all(rows)
    return rows


@dataclass(frozen=True)
class Posted:
    """A message written through the API, and who its mail went to (nobody for an
    internal note or a customer's message: those are not mailed to the conversation)."""

    message: TicketMessage
    recipients: Recipients
    attachments: list[dict[str, Any]]  # as the ticket's detail shows them, ids included


async def post_message(
    desk: Desk,
    actor: User,
    ticket_id: int,
    body: str,
    is_internal: bool,
    uploads: Sequence[Upload] = (),
    *,
    to: Sequence[str] | None = None,
    cc: Sequence[str] | None = None,
    status: str | None = None,
) -> Posted:
    """A message written through the API, in one transaction with everything it causes: a
    staff member's public reply is queued to the ticket's participants (To and Cc; `to` /
    `cc` set them for this reply and later ones); a customer's message is mailed to the
    assigned agent (unless they turned that off); an internal note is mailed to the
    assigned agent only, never outside the team. ValidationFailed names `to` or `cc` when
    they are given for a message that is not a staff member's public reply, or are bad.

    `status` ("Send and resolve"): then moves the ticket, as set-status does, in the same
    transaction (a refused move refuses the message too). Whoever the reply went to is not
    also mailed about the status: one action, one mail (the reply says it)."""
    kind = _kind_for(actor, is_internal)
    change = _recipient_change(desk.settings, kind, to, cc)
    async with desk.change() as (session, events):
        ticket = await _ticket_to_write_on(session, actor, ticket_id, is_internal)
        message = TicketMessage(
            kind=kind,
            source="web",
            author_id=actor.id,
            sender_email=actor.email,
            body_text=body,
            body_new=body,
        )
        sent = NOBODY
        if kind == MessageKind.OUTBOUND:
            sent = await _mail_reply(session, desk, ticket, actor, message, uploads, change)
        add_message(session, events, ticket, message)
        attached = _attach(session, message, uploads)
        await tell_assignee(session, desk, ticket, message, actor)
        if status is not None:
            replied_to = {p.address.lower() for p in (*sent.to, *sent.cc)}
            await change_status(session, desk, events, actor, ticket, status, replied_to=replied_to)
        await session.flush()
        shown = [attachment_data(a) for a in attached]
    return Posted(message, sent, shown)


@dataclass(frozen=True)
class RecipientChange:
    to: list[Person] | None = None  # None: as they were
    cc: list[Person] | None = None


def _recipient_change(
    s: Settings, kind: str, to: Sequence[str] | None, cc: Sequence[str] | None
) -> RecipientChange:
    """The people `to` and `cc` name, checked before anything is written."""
    for name, given in (("to", to), ("cc", cc)):
        if given is not None and kind != MessageKind.OUTBOUND:
            raise ValidationFailed(
                "only a staff member's public reply is mailed to people; internal notes"
                " never leave the team",
                field=name,
            )
    return RecipientChange(
        to=participants.people_given(s, to, "to") if to is not None else None,
        cc=participants.people_given(s, cc, "cc") if cc is not None else None,
    )


async def _ticket_to_write_on(
    session: AsyncSession, actor: User, ticket_id: int, is_internal: bool
) -> Ticket:
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None or not can_see_ticket(actor, ticket):
        raise TicketNotFound(f"no ticket {ticket_id}")
    if is_internal and not can_write_note(actor):
        raise NotAllowedOnTicket("only agents and admins write internal notes")
    await require_writable(session, ticket)  # not archived, not merged (409)
    return ticket


async def tell_assignee(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    message: TicketMessage,
    actor: User | None,
    routes: QueueRoutes | None = None,
) -> None:
    """Mail the assigned agent about a customer's reply or a colleague's internal note.
    `routes`: as for `notify`."""
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
                routes=routes,
                body=message.body_new or message.body_text,
            )
    else:
        await notify(
            session,
            desk,
            ticket,
            agent,
            "internal_note",
            actor=actor,
            routes=routes,
            body=message.body_text,
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
    change: RecipientChange = RecipientChange(),
    *,
    first: bool = False,
) -> Recipients:
    """Queue `message` to the ticket's participants, From the support address the customer
    wrote to. `first`: the mail that starts a conversation the desk opened (no `Re:`,
    nothing to answer)."""
    s = desk.settings
    sent = await _recipients(session, ticket, agent, change)
    thread = Thread(None, []) if first else await conversation(session, ticket.id)
    subject = tagged_subject(ticket.id, ticket.subject, s.ticket_prefix, reply=not first)
    support = answering_address(s, ticket)
    name = await sender_name(session, ticket, s)  # the queue's, or the desk's (default)
    out = Outgoing(
        to_address=sent.to[0].address,
        to_name=sent.to[0].name,
        also_to=[(p.name, p.address) for p in sent.to[1:]],
        cc=[(p.name, p.address) for p in sent.cc],
        # An agent without a name answers as the queue: the login address stays internal.
        from_name=f"{agent.name} ({name})" if agent.name else name,
        from_address=await sending_address(session, ticket, s),
        reply_to=reply_address(ticket.id, s.secret_key, support),
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
    return sent


async def _recipients(
    session: AsyncSession, ticket: Ticket, agent: User, change: RecipientChange
) -> Recipients:
    """Who the reply goes to, after the agent's change (kept for later replies and written
    in the ticket's history)."""
    rows = await participants.load(session, ticket.id)
    customer = await session.get(User, ticket.customer_id)
    assert customer is not None
    participants.start(session, ticket, customer, rows)
    before = participants.recipients(rows)
    if change.to is not None or change.cc is not None:
        participants.change(session, ticket, rows, agent, to=change.to, cc=change.cc)
    after = participants.recipients(rows)
    if after != before:
        record(session, ticket, agent, "participants", before.text(), after.text())
    if not after.to:
        raise ValidationFailed("nobody is left in To; name someone in `to`", field="to")
    return after


def _reply_context(
    s: Settings, ticket: Ticket, agent: User, message: TicketMessage
) -> dict[str, Any]:
    return {
        "body": message.body_text,
        # No name: the signature is the desk's alone (never "Support, Support"), and the
        # login address stays private (as in From).
        "agent_name": agent.name or "",
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
