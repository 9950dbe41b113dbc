"""Erasing a customer (the right to erasure, GDPR art. 17): their personal data goes, the
shape of the desk's history stays. The account is anonymized and closed; their tickets stay
(status, priority, times, agent: counts and analytics are unchanged) with subjects and every
message's text replaced; attachments, raw inbound mail, outgoing mail, stored events and
webhook payloads of those tickets are removed. One transaction, then the attachment files
no other row names are deleted; an audit entry records who erased whom, and what it took.

Called by `postdesk erase-customer EMAIL` and `POST /api/admin/users/<id>/erase/`."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import asdict, dataclass

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.revocation import account_deactivated
from desk.blobs import delete_blobs
from desk.context import Desk
from desk.errors import NotFound, ValidationFailed
from desk.models import (
    Attachment,
    AuditEntry,
    AuthSession,
    ChatMessage,
    EventRecord,
    InboundMail,
    OtpCode,
    OutboxMail,
    OutboxState,
    Role,
    Suppression,
    Ticket,
    TicketChange,
    TicketMessage,
    TicketParticipant,
    User,
    WebhookDelivery,
    utcnow,
)

ERASED = "[erased]"


@dataclass(frozen=True)
class Erased:
    user_id: int
    tickets: int
    messages: int
    attachments: int
    inbound_mails: int
    outbound_mails: int


async def erase_customer(desk: Desk, email: str, actor: User | None) -> Erased:
    """Erase the customer with `email` (NotFound: no such customer; ValidationFailed:
    the address is staff's). `actor` None: the command line."""
    email = email.strip().lower()
    async with desk.change() as (session, _events):
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            raise NotFound(f"no customer {email}")
        if user.role != Role.CUSTOMER:
            raise ValidationFailed("only customers are erased; deactivate staff", field="email")
        ticket_ids = list(
            await session.scalars(select(Ticket.id).where(Ticket.customer_id == user.id))
        )
        mine = or_(TicketMessage.ticket_id.in_(ticket_ids), TicketMessage.author_id == user.id)
        digests = await _drop_attachments(session, mine)
        messages = await _blank_messages(session, mine)
        inbound = await _drop_raw_mail(session, ticket_ids, email)
        outbound = await _drop_outgoing(session, ticket_ids, email)
        await _blank_tickets(session, ticket_ids)
        await _close_account(session, user)
        done = Erased(user.id, len(ticket_ids), messages, len(digests), inbound, outbound)
        session.add(
            AuditEntry(
                actor_id=actor.id if actor else None,
                action="customer.erased",
                target=f"user:{user.id}",
                # The address itself is personal data: a digest lets one confirm a request.
                details={
                    **asdict(done),
                    "email_sha256": hashlib.sha256(email.encode()).hexdigest(),
                },
            )
        )
    await account_deactivated(desk, done.user_id)  # their open sockets close now
    unused = digests - await still_named(desk, digests)
    await asyncio.to_thread(delete_blobs, desk.settings.attachments_dir, unused)
    return done


async def _drop_attachments(session: AsyncSession, mine: ColumnElement[bool]) -> set[str]:
    found = await session.execute(
        select(Attachment.id, Attachment.sha256).join(TicketMessage).where(mine)
    )
    rows = found.all()
    await session.execute(delete(Attachment).where(Attachment.id.in_([r.id for r in rows])))
    return {r.sha256 for r in rows}


async def _blank_messages(session: AsyncSession, mine: ColumnElement[bool]) -> int:
    """Every message of their tickets (agents' replies quote them) and every one they wrote."""
    done = await session.execute(
        update(TicketMessage)
        .where(mine)
        .values(subject=ERASED, body_text=ERASED, body_new=ERASED, body_html="", sender_email="")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def _drop_raw_mail(session: AsyncSession, ticket_ids: list[int], email: str) -> int:
    theirs = or_(
        InboundMail.ticket_id.in_(ticket_ids),
        InboundMail.sender == email,
        InboundMail.mail_from == email,
    )
    done = await session.execute(
        update(InboundMail)
        .where(theirs)
        .values(raw=b"", raw_removed_at=utcnow(), mail_from="", sender=None, rcpt_tos=[])
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def _drop_outgoing(session: AsyncSession, ticket_ids: list[int], email: str) -> int:
    """Mail to them: its content goes; what had not gone out yet never will."""
    theirs = or_(OutboxMail.ticket_id.in_(ticket_ids), OutboxMail.recipient == email)
    await session.execute(
        update(OutboxMail)
        .where(theirs, OutboxMail.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]))
        .values(state=OutboxState.FAILED.value, last_error="the recipient was erased")
        .execution_options(synchronize_session=False)
    )
    done = await session.execute(
        update(OutboxMail)
        .where(theirs)
        .values(recipient="", raw=None, spec=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def _blank_tickets(session: AsyncSession, ticket_ids: list[int]) -> None:
    """Subjects go, here and in the history; stored events (their payloads carry subjects
    and bodies) are deleted and webhook payloads of them emptied."""
    await session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(subject=ERASED))
    await session.execute(
        update(TicketChange)
        .where(TicketChange.ticket_id.in_(ticket_ids), TicketChange.field == "subject")
        .values(old_value=None, new_value=None)
    )
    event_ids = select(EventRecord.id).where(EventRecord.ticket_id.in_(ticket_ids))
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.event_id.in_(event_ids))
        .values(payload={"erased": True})
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(EventRecord).where(EventRecord.ticket_id.in_(ticket_ids)))


async def _close_account(session: AsyncSession, user: User) -> None:
    await session.execute(delete(OtpCode).where(OtpCode.email == user.email))
    await session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    # Their address in conversations they were copied on, and on the bounce list.
    await session.execute(delete(TicketParticipant).where(TicketParticipant.address == user.email))
    await session.execute(delete(Suppression).where(Suppression.address == user.email))
    user.email = f"erased-{user.id}@erased.invalid"
    user.name = ""
    user.password_hash = None
    user.is_active = False
    user.company_id = None
    user.is_company_admin = False


async def still_named(desk: Desk, digests: set[str]) -> set[str]:
    """The digests some attachment or chat message still names (files are content-
    addressed: the same bytes may have come from someone else too, and stay)."""
    async with desk.db.reader() as session:
        attached = await session.scalars(
            select(Attachment.sha256).where(Attachment.sha256.in_(digests))
        )
        chatted = await session.scalars(
            select(ChatMessage.file_sha256).where(ChatMessage.file_sha256.in_(digests))
        )
        return {d for d in [*attached, *chatted] if d}
