"""One stored mail becomes ticket rows: `process(mail, context)` decides (duplicate? which
customer? which ticket, by the threading rules? automatic? acknowledged?) and adds the rows
to the session. A batch of mails shares one context (desk/preload.py) and one flush; then
`after_flush` does what needs the new tickets' numbers (desk/inbound_batches.py runs it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.db import insert_ignoring_conflicts
from desk.delivery_failures import settle_bounce
from desk.imports import IMPORT_OPEN, as_history, is_imported, sent_at
from desk.mail.headers import is_plain_address
from desk.mail.loops import MailFacts, automatic_reason
from desk.mail.parse import ParsedMail, with_notes
from desk.mail.prepare import ParseResult, Rejected, StoredPart
from desk.mail.threading import Placement, follow_up_subject, place, token_addresses
from desk.models import (
    Attachment,
    InboundMail,
    InboundState,
    KnownMessageId,
    MessageKind,
    Status,
    Ticket,
    TicketMessage,
    TicketParticipant,
    User,
    utcnow,
)
from desk.preload import Incoming, IntakeContext, Placed, PreloadedLookup, contents_of
from desk.queues.notify import tell_queue
from desk.tickets.participants import is_participant, join, mail_people, start
from desk.tickets.service import acknowledge, add_message, is_finished, open_ticket, tell_assignee
from desk.tickets.thread import Thread


def identify(inbound: InboundMail, result: ParseResult, settings: Settings) -> Incoming | Rejected:
    """Who sent the mail and under which Message-ID, whether it is automatic or a bounce,
    or why it cannot become a message."""
    if isinstance(result, Rejected):
        return result
    parsed = answered_at_reply_to(result.mail, settings)
    sender = parsed.from_address or _plain(inbound.mail_from)
    if sender is None:
        return Rejected("no usable sender address (From or envelope sender)")
    message_id = parsed.message_id or f"<{inbound.sha256}@postdesk.invalid>"
    inbound.message_id, inbound.sender = message_id, sender
    automatic = _automatic_reason(parsed, inbound, sender, settings)
    return Incoming(
        inbound, parsed, result.stored_parts, sender, message_id, automatic, result.bounce
    )


def answered_at_reply_to(parsed: ParsedMail, settings: Settings) -> ParsedMail:
    """The mail as written by the person its Reply-To names, when it names one other than
    From and not the desk itself: replies go there (RFC 5322 3.6.2). Contact forms, shops
    and no-reply robots send on someone's behalf this way (`From: Website <noreply@…>`,
    `Reply-To: Jane <jane@…>`), and mailing lists that rewrite From (`'Jane' via Group`);
    the person in Reply-To is the customer, the one who threads and is answered. A note
    under the text says who sent it. Several Reply-To addresses: From, as before. The
    desk's own Reply-To (`support+token@`, on its own mail come back) never counts, so a
    loop is still seen as one."""
    # The desk's own address beside one person (a form copying the desk) still names her.
    people = [(n, a) for n, a in parsed.reply_to if not settings.is_own_address(a)]
    if len(people) != 1:
        return parsed
    name, address = people[0]
    if address == parsed.from_address:
        return parsed
    sent_by = parsed.from_address or "no From address"
    if parsed.from_name and parsed.from_address:
        sent_by = f"{parsed.from_name} <{parsed.from_address}>"
    note = f"Sent by {sent_by} with Reply-To {address}: replies go to {address}."
    return replace(
        parsed,
        from_name=name,
        from_address=address,
        notes=[*parsed.notes, note],
        text=with_notes(parsed.text, [note]),
        new_text=with_notes(parsed.new_text, [note]),
    )


def _plain(address: str) -> str | None:
    address = address.strip().strip("<>").lower()
    return address if is_plain_address(address) else None


async def process(mail: Incoming, context: IntakeContext) -> None:
    """Ignore a second copy, settle a bounce (desk/delivery_failures.py), or add the mail as
    a message to its ticket: the one it threads into, or a new one (linked to the old one
    when that is closed or archived)."""
    copies = context.seen.setdefault((mail.message_id, mail.sender), set())
    contents = contents_of(mail.parsed.subject, mail.parsed.text, (p.sha256 for p in mail.parts))
    if contents in copies:
        finish(mail.inbound, InboundState.IGNORED, f"duplicate of {mail.message_id}")
        return
    copies.add(contents)
    if mail.inbound.id in context.looped:
        # No customer account for the desk's own address, no message on a ticket again.
        why = f"sent from the desk's own address {mail.sender} (a forward or alias loop?)"
        finish(mail.inbound, InboundState.IGNORED, why)
        return
    if mail.returns_mail:
        _bounce(mail, context)
        return
    people = _people(mail, context)
    if people is None:
        finish(mail.inbound, InboundState.FAILED, "the desk's own mail names no customer")
        return
    customer, author = people
    if not customer.name and mail.parsed.from_name and author is customer:
        customer.name = mail.parsed.from_name
    settings = context.desk.settings
    lookup = PreloadedLookup(context)
    placement = await place(mail.parsed, mail.inbound.rcpt_tos, lookup, settings.ticket_prefix)
    ticket, rule = _ticket_for(placement, customer, mail, context)
    automatic = mail.automatic is not None
    message = _message(mail, author, rule, automatic)
    if author is not customer:
        message.kind = MessageKind.OUTBOUND.value  # imported: the desk's own answer
    elif customer.is_staff and ticket.customer_id != customer.id:
        # Staff answering a notification by mail: kept for the team, never shown to the
        # customer (it may quote internal notes).
        message.kind = MessageKind.NOTE.value
    updated_before = None if rule.startswith("new") else ticket.updated_at
    participants = _participants(context, ticket, customer, mail)
    by_customer = customer.id == ticket.customer_id or is_participant(participants, mail.sender)
    if message.kind == MessageKind.INBOUND and not automatic and by_customer:
        # Everyone the mail went to joins the conversation (reply-all); not from notes
        # (they stay in the team), nor from robots (an auto-reply names nobody new), nor
        # from a sender outside the conversation: a Message-ID or reply address is in
        # every copy of a mail, forwarded ones too, so whoever holds one could otherwise
        # have the team's next replies copied to them. Their message is kept on the ticket;
        # staff add them to To or Cc if they belong (the subject tag refuses them outright).
        everyone = mail_people(settings, mail.parsed, mail.sender)
        join(context.session, ticket, participants, everyone)
    add_message(context.session, context.events, ticket, message, by_customer=by_customer)
    if is_imported(mail.inbound.source):
        _as_history(mail, ticket, message, updated_before)
    context.session.add_all(attachments(message, mail.parts))
    remember = _new_ids(mail, context)
    context.threads.update(dict.fromkeys(remember, ticket))
    # Imported archives are history: their senders are not acknowledged years later.
    ack = rule.startswith("new") and not automatic and not is_imported(mail.inbound.source)
    context.placed.append(Placed(mail, ticket, customer, message, ack, remember))
    mail.inbound.thread_rule = message.thread_rule
    # A mail that could not be read is a message all the same; the row says why.
    # A processed mail with an error is a damaged one (desk.inbound_admin): unreadable, or
    # its text kept only as far as it decoded.
    finish(
        mail.inbound, InboundState.PROCESSED, mail.parsed.unreadable or mail.parsed.damage or None
    )


def _new_ids(mail: Incoming, context: IntakeContext) -> tuple[str, ...]:
    """The mail's Message-IDs not yet threading to a ticket: its id and those of further
    Message-ID headers (a reply may quote any of them)."""
    ids = (mail.message_id, *mail.parsed.other_message_ids)
    return tuple(i for i in dict.fromkeys(ids) if i not in context.threads)


def attachments(message: TicketMessage, parts: list[StoredPart]) -> list[Attachment]:
    """The message's attachments; a forwarded message's files point at its .eml (in the
    same flush: the ORM writes the .eml first)."""
    rows: list[Attachment] = []
    for part in parts:
        fields = {k: v for k, v in vars(part).items() if k != "forwarded_in"}
        row = Attachment(message=message, **fields)
        if part.forwarded_in is not None and part.forwarded_in < len(rows):
            row.forwarded_in = rows[part.forwarded_in]
        rows.append(row)
    return rows


def _people(mail: Incoming, context: IntakeContext) -> tuple[User, User | None] | None:
    """The ticket's customer and the message's author: both the sender for a customer's
    mail; for the desk's own imported mail, the customer it was written to and the staff
    account that wrote it (None for the support address). None: no customer to file it on."""
    if mail.inbound.id not in context.desk_mail:
        customer = context.customers[mail.sender]
        return customer, customer
    address = context.desk_mail[mail.inbound.id]
    if address is None:
        return None
    return context.customers[address], context.customers.get(mail.sender)


def _bounce(mail: Incoming, context: IntakeContext) -> None:
    """On the ticket of the mail it returns, or kept as ignored with the reason."""
    kept_off = settle_bounce(mail, context)
    finish(mail.inbound, InboundState.IGNORED if kept_off else InboundState.PROCESSED, kept_off)


def _ticket_for(
    placement: Placement[Ticket], customer: User, mail: Incoming, context: IntakeContext
) -> tuple[Ticket, str]:
    """The ticket the mail threads into. Automatic mail stays on it even when it is closed
    or archived (it changes nothing there); other mail to a finished ticket opens a new one
    linked to it."""
    found, rule = placement.ticket, placement.rule
    if found is not None and (not is_finished(found) or mail.automatic):
        return found, rule
    linked: int | None = None
    subject = mail.parsed.subject
    if found is not None:
        linked = found.id
        rule = f"new: {rule} matched #{found.id}, which is closed or archived"
        subject = follow_up_subject(subject, context.desk.settings.ticket_prefix)
    ticket = open_ticket(
        context.session,
        context.events,
        customer=customer,
        subject=subject,
        queue_id=_queue_for(mail, found, context),
        linked_ticket_id=linked,
    )
    if mail.automatic:
        # Nothing to answer and nobody to assign: an agent who finds it worth it reopens it.
        ticket.status, ticket.resolved_at = Status.RESOLVED.value, ticket.created_at
    return ticket, rule


def _as_history(
    mail: Incoming, ticket: Ticket, message: TicketMessage, updated_before: datetime | None
) -> None:
    when = sent_at(mail.inbound.raw) or utcnow()
    keep_open = mail.inbound.source == IMPORT_OPEN
    as_history(ticket, message, when=when, updated_before=updated_before, keep_open=keep_open)


def _participants(
    context: IntakeContext, ticket: Ticket, customer: User, mail: Incoming
) -> list[TicketParticipant]:
    """The ticket's participant rows; a ticket this mail opens starts with its customer and
    answers from the support address the mail was sent to."""
    rows = context.participants.get(ticket)
    if rows is None:  # opened by this mail: its sender is the customer
        rows = context.participants[ticket] = []
        ticket.support_address = _support_address_written_to(mail, context.desk.settings)
        start(context.session, ticket, customer, rows)
    return rows


def _support_address_written_to(mail: Incoming, settings: Settings) -> str | None:
    """The first support address among the mail's To, Cc and envelope recipients (a reply
    token address counts as the address it extends)."""
    to_and_cc = [a for _, a in (*mail.parsed.to, *mail.parsed.cc)]
    for address in (*to_and_cc, *mail.inbound.rcpt_tos):
        found = settings.support_address_for(address)
        if found is not None:
            return found
    return None


def _queue_for(mail: Incoming, linked: Ticket | None, context: IntakeContext) -> int:
    """A reply to a closed ticket stays in that ticket's queue; other new tickets land in
    the queue of the support address they were sent to (envelope recipients first, then
    the headers'), else in the default queue."""
    if linked is not None:
        return linked.queue_id
    return context.routes.route(token_addresses(mail.parsed, mail.inbound.rcpt_tos))


def _automatic_reason(
    parsed: ParsedMail, inbound: InboundMail, sender: str, settings: Settings
) -> str | None:
    """An auto-reply, a bounce, a list: stored and threaded, never answered, never moving
    a ticket (desk/mail/loops.py says why). The desk's own imported mail is judged by its
    headers only: that it came from us is known."""
    ours = settings.support_address_for(sender)
    own = is_imported(inbound.source) and ours is not None
    return automatic_reason(
        MailFacts(
            headers=parsed.loop_headers,
            content_type=parsed.content_type,
            from_address=sender,
            support_address="" if own else (ours or settings.support_address),
            envelope_sender=inbound.mail_from if inbound.source == "smtp" else None,
            subject=parsed.subject,
            new_text=parsed.new_text,
        )
    )


def _message(mail: Incoming, author: User | None, rule: str, automatic: bool) -> TicketMessage:
    p = mail.parsed
    return TicketMessage(
        kind=MessageKind.INBOUND.value,
        # `import-open` only tells how the tickets an import opens are left.
        source="import" if is_imported(mail.inbound.source) else mail.inbound.source,
        author_id=author.id if author is not None else None,
        sender_email=mail.sender,
        subject=p.subject,
        body_text=p.text,
        body_new=p.new_text,
        body_html=p.html,
        message_id=mail.message_id,
        inbound_id=mail.inbound.id,
        thread_rule=(f"{rule}; automatic: {mail.automatic}" if automatic else rule)[:200],
        is_automatic=automatic,
    )


async def after_flush(context: IntakeContext) -> None:
    """Every new ticket has its number now: remember the new Message-IDs, link each stored
    mail to its ticket, acknowledge new tickets, tell assignees about replies."""
    session, now = context.session, utcnow()
    remembered = [
        {"message_id": mid, "ticket_id": p.ticket.id, "created_at": now}
        for p in context.placed
        for mid in p.remember
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
        desk, budget, routes = context.desk, context.budget, context.routes
        await acknowledge(session, desk, placed.ticket, placed.customer, thread, budget, routes)
    elif not placed.message.is_automatic and not is_imported(placed.mail.inbound.source):
        desk, ticket, message = context.desk, placed.ticket, placed.message
        await tell_assignee(session, desk, ticket, message, placed.customer, context.routes)
    if _opened(placed):
        desk, listeners = context.desk, context.listeners
        await tell_queue(session, desk, placed.ticket, None, listeners, context.routes)


def _opened(placed: Placed) -> bool:
    """The mail opened its ticket (imported history and automatic mail tell nobody)."""
    message = placed.message
    return message.thread_rule.startswith("new") and not (
        message.is_automatic or is_imported(placed.mail.inbound.source)
    )


def finish(inbound: InboundMail, state: InboundState, error: str | None = None) -> None:
    inbound.state = state.value
    inbound.error = error[:4000] if error else None
    inbound.processed_at = utcnow()
