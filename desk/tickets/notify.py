"""Mail that tells people about a change: the customer about their ticket, the agent about
theirs. Queued in the change's transaction, threaded into the conversation, marked as
automatic (RFC 3834 auto-generated) so that no robot answers it.

Agents get the ticket's reply address too: what they answer by mail lands on the ticket as
an internal note (desk.processing), never in front of the customer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.context import Desk
from desk.mail.compose import Outgoing, UnsafeHeader
from desk.mail.reply_token import reply_address
from desk.mail.threading import tagged_subject
from desk.models import OutboxState, Ticket, User
from desk.outbox import queue_mail
from desk.queues.routing import QueueRoutes, sender_name, sending_address
from desk.suppressions import in_force
from desk.tickets.thread import Thread, conversation

log = logging.getLogger(__name__)


async def notify(
    session: AsyncSession,
    desk: Desk,
    ticket: Ticket,
    person: User,
    template: str,
    *,
    actor: User | None = None,
    thread: Thread | None = None,
    auto_submitted: str = "auto-generated",
    suppressed: Mapping[str, str] | None = None,
    routes: QueueRoutes | None = None,
    **context: Any,
) -> bool:
    """Queue `template` to `person` about `ticket`, unless `person` is the one who acted or
    cannot receive mail. Threaded into the conversation (or `thread`). Returns whether a
    mail was queued to be sent: to a suppressed address (`suppressed`, address -> why, when
    the caller read it already for a batch; else read now) it is kept as `suppressed`.
    `routes`: the queues' addresses, when the caller read them for a batch (mail intake)."""
    if not _may_tell(person, actor):
        return False
    if suppressed is None:
        suppressed = {a: row.reason for a, row in (await in_force(session, [person.email])).items()}
    thread = thread or await conversation(session, ticket.id)
    out = _outgoing(
        desk.settings,
        await sending_address(session, ticket, desk.settings, routes),
        await sender_name(session, ticket, desk.settings, routes),
        ticket,
        person,
        template,
        actor=actor,
        thread=thread,
        auto_submitted=auto_submitted,
        context=context,
    )
    return await _queue(session, out, ticket, person, template, suppressed.get(person.email))


def answering_address(s: Settings, ticket: Ticket) -> str:
    """The address mail about `ticket` goes out From: the support address its customer
    wrote to, while the desk still has it; otherwise the default."""
    if ticket.support_address in s.support_addresses:
        return str(ticket.support_address)
    return s.support_address


def _may_tell(person: User, actor: User | None) -> bool:
    """Whether `person` is to be told: not the one who acted, and able to receive mail."""
    if actor is not None and actor.id == person.id:
        return False
    return bool(person.is_active)


def _outgoing(
    s: Settings,
    from_address: str,
    from_name: str,
    ticket: Ticket,
    person: User,
    template: str,
    *,
    actor: User | None,
    thread: Thread,
    auto_submitted: str,
    context: dict[str, Any],
) -> Outgoing:
    support = answering_address(s, ticket)
    return Outgoing(
        to_address=person.email,
        to_name=person.name,
        from_name=from_name,  # the queue's name (the desk's for the default queue)
        from_address=from_address,
        reply_to=reply_address(ticket.id, s.secret_key, support),
        subject=tagged_subject(ticket.id, ticket.subject, s.ticket_prefix, reply=False),
        template=template,
        context=_template_context(s, ticket, person, actor, context),
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        automatic=True,
        auto_submitted=auto_submitted,
    )


def _template_context(
    s: Settings, ticket: Ticket, person: User, actor: User | None, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": person.name,
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status,
        "desk_name": s.desk_name,
        "actor_name": _actor_name(s, person, actor),
        **extra,
    }


def _actor_name(s: Settings, person: User, actor: User | None) -> str:
    """Who acted, as `person` may read it: a nameless account by its address only among
    staff; to a customer, a nameless agent is the desk (its login stays internal)."""
    if actor is None:
        return s.desk_name
    return actor.name or (actor.email if person.is_staff else s.desk_name)


async def _queue(
    session: AsyncSession,
    out: Outgoing,
    ticket: Ticket,
    person: User,
    template: str,
    suppression: str | None,
) -> bool:
    """Queue `out`; a mail that cannot be composed safely is logged and not sent. Mail to a
    suppressed address is kept as `suppressed` with the reason (what an operator reads in
    the outbox), never sent."""
    try:
        row = await queue_mail(session, out, ticket_id=ticket.id, kind=template)
    except UnsafeHeader:
        log.warning(
            "ticket %s: %s to %s not composed safely; not sent", ticket.id, template, person.id
        )
        return False
    if suppression is not None:
        row.state = OutboxState.SUPPRESSED.value
        row.last_error = f"not sent: {person.email} is suppressed ({suppression})"[:2000]
        log.info("ticket %s: %s to a suppressed address not sent", ticket.id, template)
        return False
    return True
