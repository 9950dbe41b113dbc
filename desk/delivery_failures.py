"""A bounce as intake settles it (desk/processing.py): shown on the ticket of the mail it
returns as a delivery failure (a team-only message, never a customer's), and the addresses
that failed for good put on the suppression list (desk/suppressions.py). A bounce never
makes a customer account or a ticket of its own; one that returns no mail of ours is kept
as ignored with the reason."""

from __future__ import annotations

from datetime import timedelta

from desk.mail.bounces import Bounce, Failure
from desk.models import Attachment, MessageKind, OutboxMail, Ticket, TicketMessage, utcnow
from desk.preload import Incoming, IntakeContext
from desk.suppressions import failure_text, suppress
from desk.tickets.service import add_message


def settle_bounce(mail: Incoming, context: IntakeContext) -> str | None:
    """Record the bounce; returns why it was kept off every ticket, or None if it is on one."""
    assert mail.bounce is not None
    ours = _returned_mail(mail, context)
    ticket = _ticket_of(mail, ours, context)
    if ours is not None:
        _suppress_failed(mail, mail.bounce, ours, ticket, context)
    if ticket is None:
        what = f"our {ours.kind} {ours.message_id}" if ours else "no mail of ours"
        return f"bounce ({mail.automatic}) returning {what}: kept, not a ticket"
    message = TicketMessage(
        kind=MessageKind.DELIVERY_FAILURE.value,
        source=mail.inbound.source,
        author_id=None,
        sender_email=mail.sender,
        subject=mail.parsed.subject,
        body_text=_summary(mail.bounce, ours, context) + "\n\n" + mail.parsed.text,
        body_new=_summary(mail.bounce, ours, context),
        message_id=mail.message_id,
        inbound_id=mail.inbound.id,
        is_automatic=True,
        thread_rule=f"bounce of {ours.message_id if ours else 'a mail of this ticket'}"[:200],
    )
    add_message(context.session, context.events, ticket, message)
    context.session.add_all(Attachment(message=message, **vars(p)) for p in mail.parts)
    mail.inbound.ticket_id = ticket.id
    mail.inbound.thread_rule = message.thread_rule
    return None


def _returned_mail(mail: Incoming, context: IntakeContext) -> OutboxMail | None:
    """The mail of ours the bounce returns: by its Message-ID in the returned copy or
    headers, then by the bounce's In-Reply-To/References."""
    assert mail.bounce is not None
    ids = (*mail.bounce.returned_ids, *mail.parsed.in_reply_to, *mail.parsed.references)
    return next((context.returned[i] for i in ids if i in context.returned), None)


def _ticket_of(mail: Incoming, ours: OutboxMail | None, context: IntakeContext) -> Ticket | None:
    if ours is not None:
        return context.tickets.get(ours.ticket_id) if ours.ticket_id is not None else None
    assert mail.bounce is not None
    ids = (*mail.bounce.returned_ids, *mail.parsed.in_reply_to, *mail.parsed.references)
    return next((context.threads[i] for i in ids if i in context.threads), None)


def _suppress_failed(
    mail: Incoming, bounce: Bounce, ours: OutboxMail, ticket: Ticket | None, context: IntakeContext
) -> None:
    days = context.desk.settings.suppression_days
    for failure in bounce.permanent:
        suppress(
            context.session,
            context.suppressions,
            failure,
            days=days,
            ticket_id=ticket.id if ticket is not None else None,
            outbox_id=ours.id,
            inbound_id=mail.inbound.id,
        )


# What each kind of our mail is, as the summary of its bounce names it.
_OUR_MAIL = {
    "acknowledgement": "our acknowledgement of the customer's mail",
    "reply": "a reply of the team",
    "status_changed": "our notice of a status change",
    "assigned": "our notice to the assignee",
    "customer_replied": "our notice of the customer's reply",
    "internal_note": "our notice of an internal note",
    "new_ticket": "our notice of a new ticket",
}


def _summary(bounce: Bounce, ours: OutboxMail | None, context: IntakeContext) -> str:
    """What the agent reads first, in sentences: who was not reached, why, what mail of
    ours came back and what follows from it."""
    lines = [_failure_line(f) for f in bounce.failures] or [
        "A mail of ours could not be delivered (the report gives no details)."
    ]
    if bounce.reporter:
        lines.append(f"Reported by {bounce.reporter}.")
    if ours is not None:
        what = _OUR_MAIL.get(ours.kind, f"our {ours.kind.replace('_', ' ')} mail")
        lines.append(f"The mail that came back is {what} ({ours.message_id}).")
    if bounce.permanent and ours is not None:
        days = context.desk.settings.suppression_days
        until = (
            f"until {(utcnow() + timedelta(days=days)).date().isoformat()}, or until "
            if days > 0
            else "until "
        )
        lines.append(f"No automatic mail goes to this address {until}an admin lifts it.")
    return "\n".join(lines)


def _failure_line(failure: Failure) -> str:
    said = _sentence(failure_text(failure))
    if failure.permanent:
        return f"Mail to {failure.address} could not be delivered: {said}"
    return f"Mail to {failure.address} is delayed (the server keeps trying): {said}"


def _sentence(text: str) -> str:
    """The server's words, ending as a sentence does."""
    return text if text.endswith((".", "!", "?")) else f"{text}."
