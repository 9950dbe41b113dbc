"""What a group of stored mails will look up, read in a few queries before any of them is
decided (desk/processing.py `process`): duplicates, customers, the tickets they name
(locked), the auto-reply budget, the queues' addresses and who hears of their new tickets.
Deciding then needs no database at all, nor does telling people in the common case (the
acknowledgement, nobody to tell or an agent told about a new ticket: a query there would
flush the batch's rows one mail at a time)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from desk.companies import companies_for
from desk.context import Desk, PendingEvent
from desk.imports import customer_of_desk_mail, is_desk_address, is_imported
from desk.mail.bounces import Bounce
from desk.mail.parse import ParsedMail
from desk.mail.prepare import StoredPart
from desk.mail.reply_token import ticket_from_address
from desk.mail.threading import subject_ticket_id, token_addresses
from desk.models import (
    Attachment,
    InboundMail,
    KnownMessageId,
    OutboxMail,
    Suppression,
    Ticket,
    TicketMessage,
    TicketParticipant,
    User,
)
from desk.outbox import AutoReplyBudget
from desk.queues.notify import Listeners, load_listeners
from desk.queues.routing import QueueRoutes, from_the_desk, load_routes
from desk.suppressions import any_for
from desk.tickets.merge import merged_into
from desk.tickets.participants import is_participant

MAX_MERGE_HOPS = 5


@dataclass(frozen=True)
class Incoming:
    """A stored mail that parsed, with who sent it and under which Message-ID."""

    inbound: InboundMail  # the stored row, locked; its state is set when it is decided
    parsed: ParsedMail
    parts: list[StoredPart]
    sender: str
    message_id: str
    automatic: str | None = None  # why it is automatic (desk/mail/loops.py), or None
    bounce: Bounce | None = None  # what it reports, if it reads as a bounce

    @property
    def returns_mail(self) -> bool:
        """A bounce: automatic mail reporting a failed delivery or returning a mail. It
        never becomes a customer's message (desk/delivery_failures.py)."""
        return self.bounce is not None and self.automatic is not None


@dataclass(frozen=True)
class Placed:
    """A mail written as a message, and what remains to do once its ticket has a number."""

    mail: Incoming
    ticket: Ticket
    customer: User
    message: TicketMessage
    acknowledge: bool
    # Its Message-IDs new to the desk (the first, and any a second Message-ID header
    # gave): they thread replies to it from now on.
    remember: tuple[str, ...]


@dataclass
class IntakeContext:
    """Where a group of mails is decided and written: the transaction, the events it will
    publish, everything preloaded, and what the mails decided so far have added."""

    desk: Desk
    session: AsyncSession
    events: list[PendingEvent]
    # (Message-ID, sender) -> the contents (`contents_of`) already ticket messages under
    # them: a mail with the same of all three is a second copy
    seen: dict[tuple[str, str], set[str]]
    customers: dict[str, User]  # by address, first-time senders included
    tickets: dict[int, Ticket]  # every ticket the mails name, by number, locked FOR UPDATE
    threads: dict[str, Ticket]  # Message-ID -> its ticket; each placed mail's is added
    writers: set[tuple[int, str]]  # (ticket number, address) that wrote on a named ticket
    budget: AutoReplyBudget
    routes: QueueRoutes  # which queue a new ticket lands in, by support address
    looped: set[int]  # stored mail ids sent from the desk's own addresses: not a customer's
    listeners: Listeners  # who is mailed about a queue's new tickets (desk/queues/notify.py)
    # Imported mail the desk itself sent, by stored mail id: the customer it was written to
    # (None: it names none). desk/imports.py
    desk_mail: dict[int, str | None] = field(default_factory=dict)
    returned: dict[str, OutboxMail] = field(default_factory=dict)  # our mail bounces return
    suppressions: dict[str, Suppression] = field(default_factory=dict)  # of failed addresses
    # Each ticket's participant rows (desk/tickets/participants.py), those of the tickets
    # the mails name and of the tickets opened by this batch.
    participants: dict[Ticket, list[TicketParticipant]] = field(default_factory=dict)
    placed: list[Placed] = field(default_factory=list)


async def preload(
    desk: Desk, session: AsyncSession, events: list[PendingEvent], mails: Sequence[Incoming]
) -> IntakeContext:
    seen = await _seen(session, mails)
    routes = await load_routes(session)
    looped = {
        m.inbound.id
        for m in mails
        if not is_imported(m.inbound.source) and from_the_desk(m.sender, routes, desk.settings)
    }
    writing = [m for m in mails if not m.returns_mail and m.inbound.id not in looped]
    customers, desk_mail = await _customers(session, writing, desk.settings.support_address)
    known = await _known_message_ids(session, mails)
    returned = await _returned(session, mails)
    bounced = {r.ticket_id for r in returned.values() if r.ticket_id is not None}
    tickets = await _tickets(session, {*known.values(), *_numbered(desk, mails), *bounced})
    tickets = await _follow_merges(session, tickets)
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
        routes=routes,
        looped=looped,
        listeners=await load_listeners(session),
        desk_mail=desk_mail,
        returned=returned,
        suppressions=await any_for(session, _failed_addresses(mails)),
        participants=await _participants(session, tickets),
    )


def contents_of(subject: str, text: str, files: Iterable[str]) -> str:
    """What tells two mails of one Message-ID and sender apart: a hash of the subject, the
    text and the files' SHA-256s. A second copy of a mail (relayed twice, fetched again)
    has them all; a tool that gives every mail the same Message-ID (scanners, some web
    apps) sends new contents, which are a new message, not a duplicate to drop."""
    digest = hashlib.sha256()
    for piece in (subject, text.strip(), *sorted(files)):
        digest.update(piece.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


async def _seen(
    session: AsyncSession, mails: Sequence[Incoming]
) -> dict[tuple[str, str], set[str]]:
    """The contents of the ticket messages stored under the mails' Message-IDs and senders
    (read only when one matches: duplicates are rare)."""
    rows = (
        await session.execute(
            select(
                TicketMessage.id,
                TicketMessage.message_id,
                TicketMessage.sender_email,
                TicketMessage.subject,
                TicketMessage.body_text,
            ).where(
                TicketMessage.message_id.in_({m.message_id for m in mails}),
                TicketMessage.sender_email.in_({m.sender for m in mails}),
            )
        )
    ).all()
    files: dict[int, list[str]] = {row.id: [] for row in rows}
    if files:
        found = await session.execute(
            select(Attachment.ticket_message_id, Attachment.sha256).where(
                Attachment.ticket_message_id.in_(list(files))
            )
        )
        for message_id, sha256 in found:
            files[message_id].append(sha256)
    seen: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        contents = contents_of(row.subject or "", row.body_text or "", files[row.id])
        seen.setdefault((row.message_id, row.sender_email), set()).add(contents)
    return seen


async def _customers(
    session: AsyncSession, mails: Sequence[Incoming], support_address: str
) -> tuple[dict[str, User], dict[int, str | None]]:
    """Every sender's account (and, for the desk's own imported mail, its customer's), and
    that imported desk mail by stored mail id (desk/imports.py)."""
    imported = [m for m in mails if is_imported(m.inbound.source)]
    wanted = {m.sender for m in mails} | {a for m in imported for a in m.parsed.recipients}
    found = {u.email: u for u in await session.scalars(select(User).where(User.email.in_(wanted)))}
    desk_mail = {
        m.inbound.id: customer_of_desk_mail(m.parsed.recipients, found, support_address)
        for m in imported
        if is_desk_address(m.sender, found, support_address)
    }
    needed = {m.sender for m in mails if m.inbound.id not in desk_mail}
    needed |= {a for a in desk_mail.values() if a is not None}
    names = {m.sender: m.parsed.from_name for m in mails}
    unknown = sorted(needed - set(found))
    if unknown:
        # A customer account for every first-time sender, written now for its id. If
        # another replica creates the same one meanwhile, the batch fails and is settled
        # again mail by mail.
        companies = await companies_for(session, set(unknown))
        new = [User(email=a, name=names.get(a, ""), company_id=companies.get(a)) for a in unknown]
        session.add_all(new)
        await session.flush()
        found.update({u.email: u for u in new})
    return found, desk_mail


def _answered_ids(mail: Incoming) -> tuple[str, ...]:
    """The Message-IDs a mail answers or (a bounce) returns."""
    returned = mail.bounce.returned_ids if mail.returns_mail and mail.bounce else ()
    return (*returned, *mail.parsed.in_reply_to, *mail.parsed.references)


async def _known_message_ids(session: AsyncSession, mails: Sequence[Incoming]) -> dict[str, int]:
    """Ticket numbers of the Message-IDs the mails answer (In-Reply-To, References) or, for
    a bounce, return."""
    refs = {r for m in mails for r in _answered_ids(m)}
    if not refs:
        return {}
    rows = await session.execute(
        select(KnownMessageId.message_id, KnownMessageId.ticket_id).where(
            KnownMessageId.message_id.in_(refs)
        )
    )
    return dict(rows.all())


async def _returned(session: AsyncSession, mails: Sequence[Incoming]) -> dict[str, OutboxMail]:
    """Our sent mail that the batch's bounces return, by Message-ID."""
    ids = {r for m in mails if m.returns_mail for r in _answered_ids(m)}
    if not ids:
        return {}
    o = OutboxMail
    found = await session.scalars(
        select(o)
        .options(load_only(o.id, o.message_id, o.ticket_id, o.recipient, o.kind))  # not raw
        .where(o.message_id.in_(ids))
    )
    return {row.message_id: row for row in found}


def _failed_addresses(mails: Sequence[Incoming]) -> set[str]:
    return {f.address for m in mails if m.returns_mail and m.bounce for f in m.bounce.permanent}


def _numbered(desk: Desk, mails: Sequence[Incoming]) -> set[int]:
    """Ticket numbers the mails name themselves: by reply token or in the subject."""
    s = desk.settings
    numbers: set[int | None] = set()
    for m in mails:
        rcpts = token_addresses(m.parsed, m.inbound.rcpt_tos)
        numbers.update(ticket_from_address(a, s.secret_key, s.support_addresses) for a in rcpts)
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


async def _follow_merges(session: AsyncSession, tickets: dict[int, Ticket]) -> dict[int, Ticket]:
    """A merged ticket's number stands for the ticket it was merged into (locked as well):
    a reply token or subject tag naming it lands in the target (desk/tickets/merge.py)."""
    found = dict(tickets)
    for _ in range(MAX_MERGE_HOPS):  # a target merged on in turn: follow the chain
        into = await merged_into(session, {t.id for t in found.values()})
        if not into:
            break
        have = {t.id: t for t in found.values()}
        have.update(await _tickets(session, set(into.values()) - set(have)))
        found = {n: have.get(into.get(t.id, t.id), t) for n, t in found.items()}
    return found


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


async def _participants(
    session: AsyncSession, tickets: dict[int, Ticket]
) -> dict[Ticket, list[TicketParticipant]]:
    """The participant rows of the named tickets (every one has a list, maybe empty)."""
    found: dict[Ticket, list[TicketParticipant]] = {t: [] for t in tickets.values()}
    if not tickets:
        return found
    rows = await session.scalars(
        select(TicketParticipant)
        .where(TicketParticipant.ticket_id.in_(tickets))
        .order_by(TicketParticipant.id)
    )
    for row in rows:
        found[tickets[row.ticket_id]].append(row)
    return found


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
        if is_participant(context.participants.get(ticket, []), address):
            return True
        return any(p.ticket is ticket and p.mail.sender == address for p in context.placed)

    def ticket_for_reply_address(self, address: str) -> int | None:
        s = self._context.desk.settings
        return ticket_from_address(address, s.secret_key, s.support_addresses)
