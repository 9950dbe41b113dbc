"""Mail that tells people about a change: the customer about their ticket, the agent about
theirs. Queued in the change's transaction, threaded into the conversation, marked as
automatic (RFC 3834 auto-generated) so that no robot answers it.

Agents get the ticket's reply address too: what they answer by mail lands on the ticket as
an internal note (desk.processing), never in front of the customer."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.context import Desk
from desk.mail.compose import Outgoing, UnsafeHeader
from desk.mail.reply_token import reply_address
from desk.mail.threading import subject_tag
from desk.models import Ticket, User
from desk.outbox import queue_mail
from desk.queues.routing import sending_address
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
    **context: Any,
) -> bool:
    """Queue `template` to `person` about `ticket`, unless `person` is the one who acted or
    cannot receive mail. Threaded into the conversation (or `thread`). Returns whether a
    mail was queued."""
    if not _may_tell(person, actor):
        return False
    thread = thread or await conversation(session, ticket.id)
    out = _outgoing(
        desk.settings,
        await sending_address(session, ticket, desk.settings),
        ticket,
        person,
        template,
        actor=actor,
        thread=thread,
        auto_submitted=auto_submitted,
        context=context,
    )
    return await _queue(session, out, ticket, person, template)


def _may_tell(person: User, actor: User | None) -> bool:
    """Whether `person` is to be told: not the one who acted, and able to receive mail."""
    if actor is not None and actor.id == person.id:
        return False
    return bool(person.is_active)


def _outgoing(
    s: Settings,
    from_address: str,
    ticket: Ticket,
    person: User,
    template: str,
    *,
    actor: User | None,
    thread: Thread,
    auto_submitted: str,
    context: dict[str, Any],
) -> Outgoing:
    return Outgoing(
        to_address=person.email,
        to_name=person.name,
        from_name=s.desk_name,
        from_address=from_address,
        reply_to=reply_address(ticket.id, s.secret_key, s.support_address),
        subject=f"{subject_tag(ticket.id, s.ticket_prefix)} {ticket.subject}",
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
        "actor_name": (actor.name or actor.email) if actor else s.desk_name,
        **extra,
    }


async def _queue(
    session: AsyncSession, out: Outgoing, ticket: Ticket, person: User, template: str
) -> bool:
    """Queue `out`; a mail that cannot be composed safely is logged and not sent."""
    try:
        await queue_mail(session, out, ticket_id=ticket.id, kind=template)
    except UnsafeHeader:
        log.warning(
            "ticket %s: %s to %s not composed safely; not sent", ticket.id, template, person.id
        )
        return False
    return True
