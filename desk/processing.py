"""Stored mail to ticket rows, a batch at a time, inside one transaction.

The batch is read in a few queries (duplicates, customers, known Message-IDs and their
tickets, the auto-reply budget), decided mail by mail in memory, written with one flush,
and only then acknowledged, because an acknowledgement needs the new ticket's number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.companies import companies_for
from desk.context import Desk, PendingEvent
from desk.db import insert_ignoring_conflicts
from desk.mail.headers import is_plain_address
from desk.mail.loops import MailFacts, automatic_reason
from desk.mail.parse import MailRejected, ParsedMail
from desk.mail.prepare import PreparedMail, StoredPart
from desk.mail.reply_token import ticket_from_address
from desk.mail.threading import place
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
from desk.outbox import AutoReplyBudget
from desk.tickets.service import (
    acknowledge,
    add_message,
    is_finished,
    open_ticket,
    tell_assignee,
)
from desk.tickets.thread import Thread

Outcome = PreparedMail | MailRejected


@dataclass
class _Mail:
    inbound: InboundMail
    parsed: ParsedMail
    parts: list[StoredPart]
    sender: str
    message_id: str


async def settle_batch(
    session: AsyncSession,
    events: list[PendingEvent],
    desk: Desk,
    items: Sequence[tuple[InboundMail, Outcome]],
) -> None:
    mails = [m for m in (_accept(inbound, outcome) for inbound, outcome in items) if m]
    if not mails:
        return
    batch = _Batch(session, desk)
    with session.no_autoflush:  # decisions are made in memory; one flush writes them
        await batch.preload(mails)
        for mail in mails:
            await batch.settle(mail, events)
    await session.flush()
    await batch.after_flush()


def finish(inbound: InboundMail, state: InboundState, error: str | None = None) -> None:
    inbound.state = state.value
    inbound.error = error[:4000] if error else None
    inbound.processed_at = utcnow()


def _accept(inbound: InboundMail, outcome: Outcome) -> _Mail | None:
    if isinstance(outcome, MailRejected):
        finish(inbound, InboundState.FAILED, str(outcome))
        return None
    parsed = outcome.mail
    sender = parsed.from_address or _plain(inbound.mail_from)
    if sender is None:
        finish(inbound, InboundState.FAILED, "no usable sender address (From or envelope sender)")
        return None
    message_id = parsed.message_id or f"<{inbound.sha256}@postdesk.invalid>"
    inbound.message_id, inbound.sender = message_id, sender
    return _Mail(inbound, parsed, outcome.stored_parts, sender, message_id)


def _plain(address: str) -> str | None:
    address = address.strip().strip("<>").lower()
    return address if is_plain_address(address) else None


@dataclass
class _Placed:
    mail: _Mail
    ticket: Ticket
    customer: User
    acknowledge: bool
    message: TicketMessage


@dataclass
class _Batch:
    session: AsyncSession
    desk: Desk
    seen: set[tuple[str, str]] = field(default_factory=set)  # (Message-ID, sender)
    customers: dict[str, User] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # Message-ID -> ticket key
    pending: dict[int, Ticket] = field(default_factory=dict)  # key < 0: ticket without id
    placed: list[_Placed] = field(default_factory=list)
    held: list[Ticket] = field(default_factory=list)  # so that session.get finds them
    budget: AutoReplyBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = AutoReplyBudget(self.desk.settings.auto_reply_per_hour)

    async def preload(self, mails: list[_Mail]) -> None:
        s = self.session
        ids = {m.message_id for m in mails}
        rows = await s.execute(
            select(TicketMessage.message_id, TicketMessage.sender_email).where(
                TicketMessage.message_id.in_(ids)
            )
        )
        self.seen = {(mid, sender) for mid, sender in rows.all() if mid}
        await self._load_customers(mails)
        refs = {r for m in mails for r in (*m.parsed.in_reply_to, *m.parsed.references)}
        if refs:
            found = await s.execute(
                select(KnownMessageId.message_id, KnownMessageId.ticket_id).where(
                    KnownMessageId.message_id.in_(refs)
                )
            )
            self.known = dict(found.all())
        tickets = set(self.known.values())
        if tickets:  # locked against concurrent replicas, and held: the identity map is weak
            found = await s.scalars(select(Ticket).where(Ticket.id.in_(tickets)).with_for_update())
            self.held = list(found)
        await self.budget.load(s, {m.sender for m in mails})

    async def _load_customers(self, mails: list[_Mail]) -> None:
        senders = {m.sender for m in mails}
        found = await self.session.scalars(select(User).where(User.email.in_(senders)))
        self.customers = {u.email: u for u in found}
        names = {m.sender: m.parsed.from_name for m in mails}
        unknown = senders - set(self.customers)
        companies = await companies_for(self.session, unknown)
        new = [User(email=a, name=names[a], company_id=companies.get(a)) for a in sorted(unknown)]
        if new:
            # A customer account for every first-time sender. If another replica creates
            # the same one meanwhile, the batch fails and is settled again mail by mail.
            self.session.add_all(new)
            await self.session.flush()
            self.customers.update({u.email: u for u in new})

    async def settle(self, mail: _Mail, events: list[PendingEvent]) -> None:
        key = (mail.message_id, mail.sender)
        if key in self.seen:
            finish(mail.inbound, InboundState.IGNORED, f"duplicate of {mail.message_id}")
            return
        self.seen.add(key)
        settings = self.desk.settings
        customer = self.customers[mail.sender]
        if not customer.name and mail.parsed.from_name:
            customer.name = mail.parsed.from_name
        placement = await place(
            mail.parsed, mail.inbound.rcpt_tos, _Lookup(self), settings.ticket_prefix
        )
        ticket, rule = await self._ticket_for(
            placement.ticket_id, placement.rule, customer, mail.parsed.subject, events
        )
        automatic = automatic_reason(
            MailFacts(
                headers=mail.parsed.loop_headers,
                content_type=mail.parsed.content_type,
                from_address=mail.sender,
                support_address=settings.support_address,
                envelope_sender=mail.inbound.mail_from if mail.inbound.source == "smtp" else None,
            )
        )
        message = _message(mail, customer, rule, automatic is not None)
        if customer.is_staff and ticket.customer_id != customer.id:
            # Staff answering a notification by mail: kept for the team, never shown to the
            # customer (it may quote internal notes).
            message.kind = MessageKind.NOTE.value
        add_message(self.session, events, ticket, message)
        self.session.add_all(Attachment(message=message, **vars(p)) for p in mail.parts)
        self._remember(mail.message_id, ticket)
        mail.inbound.thread_rule = rule
        # Imported archives are history: their senders are not acknowledged years later.
        ack = rule.startswith("new") and automatic is None and mail.inbound.source != "import"
        self.placed.append(_Placed(mail, ticket, customer, ack, message))
        finish(mail.inbound, InboundState.PROCESSED)

    def _remember(self, message_id: str, ticket: Ticket) -> None:
        if message_id in self.known:
            return
        if ticket.id is not None:
            self.known[message_id] = ticket.id
            return
        key = next(k for k, t in self.pending.items() if t is ticket)
        self.known[message_id] = key

    async def _ticket_for(
        self, key: int | None, rule: str, customer: User, subject: str, events: list[PendingEvent]
    ) -> tuple[Ticket, str]:
        linked: int | None = None
        if key is not None:
            ticket = self.pending.get(key) or await self.session.get(Ticket, key)
            if ticket is not None and not is_finished(ticket):
                return ticket, rule
            if ticket is not None:
                linked = ticket.id
                rule = f"new: {rule} matched #{ticket.id}, which is closed or archived"
        ticket = open_ticket(
            self.session, events, customer=customer, subject=subject, linked_ticket_id=linked
        )
        ticket.customer_id = customer.id
        self.pending[-(len(self.pending) + 1)] = ticket
        return ticket, rule

    async def after_flush(self) -> None:
        """Every new ticket has its number now: link, remember and acknowledge."""
        remembered = {mid: self._real_id(key) for mid, key in self.known.items()}
        new_ids = [
            {"message_id": p.mail.message_id, "ticket_id": p.ticket.id, "created_at": utcnow()}
            for p in self.placed
            if remembered.get(p.mail.message_id) == p.ticket.id
        ]
        if new_ids:
            await self.session.execute(
                insert_ignoring_conflicts(self.session, KnownMessageId), new_ids
            )
        for p in self.placed:
            p.mail.inbound.ticket_id = p.ticket.id
            if p.acknowledge:
                thread = Thread(in_reply_to=p.mail.message_id, references=[p.mail.message_id])
                await acknowledge(
                    self.session, self.desk, p.ticket, p.customer, thread, self.budget
                )
            elif not p.message.is_automatic:
                await tell_assignee(self.session, self.desk, p.ticket, p.message, p.customer)

    def _real_id(self, key: int) -> int | None:
        return self.pending[key].id if key < 0 else key


def _message(mail: _Mail, customer: User, rule: str, automatic: bool) -> TicketMessage:
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


class _Lookup:
    """The threading rules' view of the database and of this batch so far."""

    def __init__(self, batch: _Batch) -> None:
        self._b = batch

    async def ticket_for_message_ids(self, message_ids: Sequence[str]) -> int | None:
        return next((self._b.known[m] for m in message_ids if m in self._b.known), None)

    async def ticket_exists(self, ticket_id: int) -> bool:
        if ticket_id in self._b.pending:
            return True
        return await self._b.session.get(Ticket, ticket_id) is not None

    async def is_participant(self, ticket_id: int, address: str) -> bool:
        ticket = self._b.pending.get(ticket_id) or await self._b.session.get(Ticket, ticket_id)
        if ticket is None:
            return False
        customer = self._b.customers.get(address)
        if customer is not None and customer.id == ticket.customer_id:
            return True
        if any(p.ticket is ticket and p.mail.sender == address for p in self._b.placed):
            return True
        wrote = await self._b.session.scalar(
            select(TicketMessage.id)
            .where(TicketMessage.ticket_id == ticket_id, TicketMessage.sender_email == address)
            .limit(1)
        )
        return wrote is not None

    def ticket_for_reply_address(self, address: str) -> int | None:
        s = self._b.desk.settings
        return ticket_from_address(address, s.secret_key, s.support_address)
