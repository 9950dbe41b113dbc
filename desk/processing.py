"""One stored mail becomes ticket rows: `process(mail, context)` decides (duplicate? which
customer? which ticket, by the threading rules? automatic? acknowledged?) and adds the rows
to the session. A batch of mails shares one context (desk/preload.py) and one flush; then
`after_flush` does what needs the new tickets' numbers (desk/inbound_batches.py runs it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.db import insert_ignoring_conflicts
from desk.mail.headers import is_plain_address
from desk.mail.loops import MailFacts, automatic_reason
from desk.mail.prepare import ParseResult, Rejected
from desk.mail.threading import Placement, place, token_addresses
from desk.models import (
    Attachment,
    InboundMail,
    InboundState,
    KnownMessageId,
    MessageKind,
    Ticket,
    TicketMessage,
    User,
    utcnow,
)
from desk.preload import Incoming, IntakeContext, Placed, PreloadedLookup
from desk.queues.notify import tell_queue
from desk.tickets.service import acknowledge, add_message, is_finished, open_ticket, tell_assignee
from desk.tickets.thread import Thread


def identify(inbound: InboundMail, result: ParseResult) -> Incoming | Rejected:
    """Who sent the mail and under which Message-ID, or why it cannot become a message."""
    if isinstance(result, Rejected):
        return result
    parsed = result.mail
    sender = parsed.from_address or _plain(inbound.mail_from)
    if sender is None:
        return Rejected("no usable sender address (From or envelope sender)")
    message_id = parsed.message_id or f"<{inbound.sha256}@postdesk.invalid>"
    inbound.message_id, inbound.sender = message_id, sender
    return Incoming(inbound, parsed, result.stored_parts, sender, message_id)


def _plain(address: str) -> str | None:
    address = address.strip().strip("<>").lower()
    return address if is_plain_address(address) else None


async def process(mail: Incoming, context: IntakeContext) -> None:
    """Ignore a second copy, or add the mail as a message to its ticket: the one it
    threads into, or a new one (linked to the old one when that is closed or archived)."""
    if (mail.message_id, mail.sender) in context.seen:
        finish(mail.inbound, InboundState.IGNORED, f"duplicate of {mail.message_id}")
        return
    context.seen.add((mail.message_id, mail.sender))
    settings = context.desk.settings
    customer = context.customers[mail.sender]
    if not customer.name and mail.parsed.from_name:
        customer.name = mail.parsed.from_name
    lookup = PreloadedLookup(context)
    placement = await place(mail.parsed, mail.inbound.rcpt_tos, lookup, settings.ticket_prefix)
    ticket, rule = _ticket_for(placement, customer, mail, context)
    automatic = _is_automatic(mail, settings)
    message = _message(mail, customer, rule, automatic)
    if customer.is_staff and ticket.customer_id != customer.id:
        # Staff answering a notification by mail: kept for the team, never shown to the
        # customer (it may quote internal notes).
        message.kind = MessageKind.NOTE.value
    add_message(context.session, context.events, ticket, message)
    context.session.add_all(Attachment(message=message, **vars(p)) for p in mail.parts)
    remember = mail.message_id not in context.threads
    if remember:
        context.threads[mail.message_id] = ticket
    # Imported archives are history: their senders are not acknowledged years later.
    ack = rule.startswith("new") and not automatic and mail.inbound.source != "import"
    context.placed.append(Placed(mail, ticket, customer, message, ack, remember))
    mail.inbound.thread_rule = rule
    finish(mail.inbound, InboundState.PROCESSED)


def _ticket_for(
    placement: Placement[Ticket], customer: User, mail: Incoming, context: IntakeContext
) -> tuple[Ticket, str]:
    found, rule = placement.ticket, placement.rule
    if found is not None and not is_finished(found):
        return found, rule
    linked: int | None = None
    if found is not None:
        linked = found.id
        rule = f"new: {rule} matched #{found.id}, which is closed or archived"
    ticket = open_ticket(
        context.session,
        context.events,
        customer=customer,
        subject=mail.parsed.subject,
        queue_id=_queue_for(mail, found, context),
        linked_ticket_id=linked,
    )
    return ticket, rule


def _queue_for(mail: Incoming, linked: Ticket | None, context: IntakeContext) -> int:
    """A reply to a closed ticket stays in that ticket's queue; other new tickets land in
    the queue of the support address they were sent to (envelope recipients first, then
    the headers'), else in the default queue."""
    if linked is not None:
        return linked.queue_id
    return context.routes.route(token_addresses(mail.parsed, mail.inbound.rcpt_tos))


def _is_automatic(mail: Incoming, settings: Settings) -> bool:
    """An auto-reply, a bounce, a list: stored and threaded, never answered."""
    reason = automatic_reason(
        MailFacts(
            headers=mail.parsed.loop_headers,
            content_type=mail.parsed.content_type,
            from_address=mail.sender,
            support_address=settings.support_address,
            envelope_sender=mail.inbound.mail_from if mail.inbound.source == "smtp" else None,
        )
    )
    return reason is not None


def _message(mail: Incoming, customer: User, rule: str, automatic: bool) -> TicketMessage:
    p = mail.parsed
    return TicketMessage(
        kind=MessageKind.INBOUND.value,
        source=mail.inbound.source,
        author_id=customer.id,
        sender_email=mail.sender,
        subject=p.subject,
        body_text=p.text,
        body_new=p.new_text,
        body_html=p.html,
        message_id=mail.message_id,
        inbound_id=mail.inbound.id,
        thread_rule=rule,
        is_automatic=automatic,
    )


async def after_flush(context: IntakeContext) -> None:
    """Every new ticket has its number now: remember the new Message-IDs, link each stored
    mail to its ticket, acknowledge new tickets, tell assignees about replies."""
    session, now = context.session, utcnow()
    remembered = [
        {"message_id": p.mail.message_id, "ticket_id": p.ticket.id, "created_at": now}
        for p in context.placed
        if p.remember
    ]
    if remembered:
        await session.execute(insert_ignoring_conflicts(session, KnownMessageId), remembered)
    for p in context.placed:
        p.mail.inbound.ticket_id = p.ticket.id
        await _tell(session, context, p)


async def _tell(session: AsyncSession, context: IntakeContext, placed: Placed) -> None:
    if placed.acknowledge:
        mid = placed.mail.message_id
        thread = Thread(in_reply_to=mid, references=[mid])
        desk, budget = context.desk, context.budget
        await acknowledge(session, desk, placed.ticket, placed.customer, thread, budget)
    elif not placed.message.is_automatic:
        await tell_assignee(session, context.desk, placed.ticket, placed.message, placed.customer)
    if _opened(placed):
        await tell_queue(session, context.desk, placed.ticket, None)


def _opened(placed: Placed) -> bool:
    """The mail opened its ticket (imported history tells nobody)."""
    return placed.message.thread_rule.startswith("new") and placed.mail.inbound.source != "import"


def finish(inbound: InboundMail, state: InboundState, error: str | None = None) -> None:
    inbound.state = state.value
    inbound.error = error[:4000] if error else None
    inbound.processed_at = utcnow()
