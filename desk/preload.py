"""What a group of stored mails will look up, read in a few queries before any of them is
decided (desk/processing.py `process`): duplicates, customers, the tickets they name
(locked), the auto-reply budget. Deciding then needs no database at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.companies import companies_for
from desk.context import Desk, PendingEvent
from desk.mail.parse import ParsedMail
from desk.mail.prepare import StoredPart
from desk.mail.reply_token import ticket_from_address
from desk.mail.threading import subject_ticket_id, token_addresses
from desk.models import InboundMail, KnownMessageId, Ticket, TicketMessage, User
from desk.outbox import AutoReplyBudget
from desk.queues.routing import QueueRoutes, load_routes


@dataclass(frozen=True)
class Incoming:
    """A stored mail that parsed, with who sent it and under which Message-ID."""

    inbound: InboundMail  # the stored row, locked; its state is set when it is decided
    parsed: ParsedMail
    parts: list[StoredPart]
    sender: str
    message_id: str


@dataclass(frozen=True)
class Placed:
    """A mail written as a message, and what remains to do once its ticket has a number."""

    mail: Incoming
    ticket: Ticket
    customer: User
    message: TicketMessage
    acknowledge: bool
    remember: bool  # its Message-ID is new: threads replies to it from now on


@dataclass
class IntakeContext:
    """Where a group of mails is decided and written: the transaction, the events it will
    publish, everything preloaded, and what the mails decided so far have added."""

    desk: Desk
    session: AsyncSession
    events: list[PendingEvent]
    seen: set[tuple[str, str]]  # (Message-ID, sender) already a ticket message: duplicates
    customers: dict[str, User]  # by address, first-time senders included
    tickets: dict[int, Ticket]  # every ticket the mails name, by number, locked FOR UPDATE
    threads: dict[str, Ticket]  # Message-ID -> its ticket; each placed mail's is added
    writers: set[tuple[int, str]]  # (ticket number, address) that wrote on a named ticket
    budget: AutoReplyBudget
    routes: QueueRoutes  # which queue a new ticket lands in, by support address
    placed: list[Placed] = field(default_factory=list)


async def preload(
    desk: Desk, session: AsyncSession, events: list[PendingEvent], mails: Sequence[Incoming]
) -> IntakeContext:
    seen = await _seen(session, mails)
    customers = await _customers(session, mails)
    known = await _known_message_ids(session, mails)
    tickets = await _tickets(session, {*known.values(), *_numbered(desk, mails)})
    writers = await _writers(session, desk, mails, set(tickets))
    budget = AutoReplyBudget(desk.settings.auto_reply_per_hour)
    await budget.load(session, {m.sender for m in mails})
    return IntakeContext(
        desk=desk,
        session=session,
        events=events,
        seen=seen,
        customers=customers,
        tickets=tickets,
        threads={mid: tickets[t] for mid, t in known.items() if t in tickets},
        writers=writers,
        budget=budget,
        routes=await load_routes(session),
    )


async def _seen(session: AsyncSession, mails: Sequence[Incoming]) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(TicketMessage.message_id, TicketMessage.sender_email).where(
            TicketMessage.message_id.in_({m.message_id for m in mails})
        )
    )
    return {(mid, sender) for mid, sender in rows.all() if mid}


async def _customers(session: AsyncSession, mails: Sequence[Incoming]) -> dict[str, User]:
    senders = {m.sender for m in mails}
    found = {u.email: u for u in await session.scalars(select(User).where(User.email.in_(senders)))}
    names = {m.sender: m.parsed.from_name for m in mails}
    unknown = sorted(senders - set(found))
    if unknown:
        # A customer account for every first-time sender, written now for its id. If
        # another replica creates the same one meanwhile, the batch fails and is settled
        # again mail by mail.
        companies = await companies_for(session, set(unknown))
        new = [User(email=a, name=names[a], company_id=companies.get(a)) for a in unknown]
        session.add_all(new)
        await session.flush()
        found.update({u.email: u for u in new})
    return found


async def _known_message_ids(session: AsyncSession, mails: Sequence[Incoming]) -> dict[str, int]:
    """Ticket numbers of the Message-IDs the mails answer (In-Reply-To, References)."""
    refs = {r for m in mails for r in (*m.parsed.in_reply_to, *m.parsed.references)}
    if not refs:
        return {}
    rows = await session.execute(
        select(KnownMessageId.message_id, KnownMessageId.ticket_id).where(
            KnownMessageId.message_id.in_(refs)
        )
    )
    return dict(rows.all())


def _numbered(desk: Desk, mails: Sequence[Incoming]) -> set[int]:
    """Ticket numbers the mails name themselves: by reply token or in the subject."""
    s = desk.settings
    numbers: set[int | None] = set()
    for m in mails:
        rcpts = token_addresses(m.parsed, m.inbound.rcpt_tos)
        numbers.update(ticket_from_address(a, s.secret_key, s.support_address) for a in rcpts)
        numbers.add(subject_ticket_id(m.parsed.subject, s.ticket_prefix))
    return {n for n in numbers if n is not None}


async def _tickets(session: AsyncSession, numbers: set[int]) -> dict[int, Ticket]:
    """Locked against concurrent replicas (in one order, so two batches cannot deadlock
    on each other), and held here: the mails are placed on these very objects."""
    if not numbers:
        return {}
    found = await session.scalars(
        select(Ticket).where(Ticket.id.in_(numbers)).order_by(Ticket.id).with_for_update()
    )
    return {t.id: t for t in found}


async def _writers(
    session: AsyncSession, desk: Desk, mails: Sequence[Incoming], tickets: set[int]
) -> set[tuple[int, str]]:
    """Who has written on the tickets named in subjects: a subject reference threads only
    for the ticket's participants."""
    prefix = desk.settings.ticket_prefix
    named = {subject_ticket_id(m.parsed.subject, prefix) for m in mails} & tickets
    senders = {m.parsed.from_address for m in mails if m.parsed.from_address}
    if not named or not senders:
        return set()
    rows = await session.execute(
        select(TicketMessage.ticket_id, TicketMessage.sender_email)
        .where(TicketMessage.ticket_id.in_(named), TicketMessage.sender_email.in_(senders))
        .distinct()
    )
    return {(ticket_id, address) for ticket_id, address in rows}


class PreloadedLookup:
    """The threading rules' questions (desk/mail/threading.py `ThreadLookup`), answered
    from the context: what was preloaded and what the mails decided so far added."""

    def __init__(self, context: IntakeContext) -> None:
        self._context = context

    async def ticket_for_message_ids(self, message_ids: Sequence[str]) -> Ticket | None:
        threads = self._context.threads
        return next((threads[m] for m in message_ids if m in threads), None)

    async def ticket_by_number(self, ticket_id: int) -> Ticket | None:
        return self._context.tickets.get(ticket_id)

    async def is_participant(self, ticket: Ticket, address: str) -> bool:
        context = self._context
        customer = context.customers.get(address)
        if customer is not None and customer.id == ticket.customer_id:
            return True
        if (ticket.id, address) in context.writers:
            return True
        return any(p.ticket is ticket and p.mail.sender == address for p in context.placed)

    def ticket_for_reply_address(self, address: str) -> int | None:
        s = self._context.desk.settings
        return ticket_from_address(address, s.secret_key, s.support_address)
