"""Inbound mail, in two steps. `Receiver.receive` commits the raw bytes (the SMTP 250 waits
for it); `process_pending` turns stored mail into ticket rows, idempotently, any time later."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from desk.context import Desk
from desk.db import Database
from desk.events import Event
from desk.mail.headers import is_plain_address
from desk.mail.loops import MailFacts, automatic_reason
from desk.mail.parse import MailRejected
from desk.mail.prepare import PreparedMail
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
from desk.people import customer_for_address
from desk.tickets.service import Thread, acknowledge, add_message, is_finished, open_ticket

log = logging.getLogger(__name__)

Prepare = Callable[[bytes], Awaitable[PreparedMail]]
BATCH_BYTES = 32 * 1024 * 1024
BATCH_MAILS = 64


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # None: not from SMTP (API, import); "" is the null sender <>
    rcpt_tos: tuple[str, ...]
    source: str = "smtp"


class Receiver:
    """Stores raw mail with group commit: concurrent deliveries share one durable commit."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[bytes, Envelope, asyncio.Future[int]]] = []
        self._lock = asyncio.Lock()
        self.stored = asyncio.Event()  # set after every commit; the worker waits on it

    async def receive(self, raw: bytes, envelope: Envelope) -> int:
        """Return the stored mail's id once it is committed (an earlier copy's id for a
        byte-identical redelivery). Raises if it could not be committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((raw, envelope, future))
        async with self._lock:
            if not future.done():
                batch, self._pending = self._pending, []
                try:
                    await self._commit(batch)
                except Exception:  # noqa: S110 - the futures carry it to every caller
                    pass
        return await future

    async def _commit(self, batch: list[tuple[bytes, Envelope, asyncio.Future[int]]]) -> None:
        try:
            ids = await store_raw(self._db, [(raw, env) for raw, env, _ in batch])
        except BaseException as exc:  # cancelled too: no waiter may hang on its future
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(
                        exc
                        if isinstance(exc, Exception)
                        else RuntimeError("storing was interrupted")
                    )
            raise
        for (_, _, future), row_id in zip(batch, ids, strict=True):
            future.set_result(row_id)
        self.stored.set()


async def store_raw(db: Database, mails: Sequence[tuple[bytes, Envelope]]) -> list[int]:
    hashes = [hashlib.sha256(raw).hexdigest() for raw, _ in mails]
    async with db.writer() as session:
        known = await _ids_by_hash(session, hashes)
        for (raw, env), digest in zip(mails, hashes, strict=True):
            if digest in known:
                continue
            row = InboundMail(
                raw=raw,
                sha256=digest,
                source=env.source,
                mail_from=env.mail_from or "",
                rcpt_tos=list(env.rcpt_tos),
            )
            session.add(row)
            await session.flush()
            known[digest] = row.id
    return [known[d] for d in hashes]


async def _ids_by_hash(session: AsyncSession, hashes: list[str]) -> dict[str, int]:
    rows = await session.execute(
        select(InboundMail.sha256, InboundMail.id).where(InboundMail.sha256.in_(set(hashes)))
    )
    return {digest: row_id for digest, row_id in rows}


# -- processing -------------------------------------------------------------------------


@dataclass
class _Stored:
    id: int
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    source: str


async def process_pending(desk: Desk, prepare: Prepare) -> int:
    """Process one batch of stored mail; return how many were settled (0: nothing to do).

    The whole batch is one transaction (one commit, one fsync). If anything unexpected
    fails, it is rolled back and settled again carefully, one savepoint per mail, so one
    bad mail is recorded as failed without taking the others with it.
    """
    batch = await _next_batch(desk.db)
    if not batch:
        return 0
    outcomes = await asyncio.gather(*(_prepare_safely(prepare, m.raw) for m in batch))
    try:
        await _settle_batch(desk, batch, outcomes, careful=False)
    except Exception:
        log.warning(
            "a batch of %d mails failed; settling them one by one", len(batch), exc_info=True
        )
        await _settle_batch(desk, batch, outcomes, careful=True)
    return len(batch)


async def _prepare_safely(prepare: Prepare, raw: bytes) -> PreparedMail | MailRejected:
    try:
        return await prepare(raw)
    except MailRejected as exc:
        return exc


async def _settle_batch(
    desk: Desk, batch: list[_Stored], outcomes: list[PreparedMail | MailRejected], *, careful: bool
) -> None:
    async with desk.change() as (session, events):
        found = await session.scalars(
            select(InboundMail)
            .where(
                InboundMail.id.in_([m.id for m in batch]),
                InboundMail.state == InboundState.RECEIVED.value,
            )
            .with_for_update(skip_locked=True)
        )
        inbound_by_id = {row.id: row for row in found}  # absent: another worker has it
        customers: dict[str, User] = {}
        for stored, outcome in zip(batch, outcomes, strict=True):
            inbound = inbound_by_id.get(stored.id)
            if inbound is None:
                continue
            inbound.attempts += 1
            work = _Work(session, desk, inbound, outcome, customers)
            if careful:
                await _settle_carefully(work, events)
            else:
                await _settle(work, events)


@dataclass
class _Work:
    session: AsyncSession
    desk: Desk
    inbound: InboundMail
    outcome: PreparedMail | MailRejected
    customers: dict[str, User]  # per batch: a sender writing twice is looked up once


async def _settle(work: _Work, events: list[Event]) -> None:
    if isinstance(work.outcome, MailRejected):
        _finish(work.inbound, InboundState.FAILED, str(work.outcome))
        return
    try:
        await _to_ticket(work, work.outcome, events)
    except MailRejected as exc:  # raised before anything is written
        _finish(work.inbound, InboundState.FAILED, str(exc))


async def _settle_carefully(work: _Work, events: list[Event]) -> None:
    mail_events: list[Event] = []
    try:
        async with work.session.begin_nested():
            await _settle(work, mail_events)
    except Exception as exc:
        log.exception("inbound mail %s failed", work.inbound.id)
        work.customers.clear()  # may hold rows the savepoint rolled back
        _finish(work.inbound, InboundState.FAILED, f"{type(exc).__name__}: {exc}")
    else:
        events.extend(mail_events)


async def _next_batch(db: Database) -> list[_Stored]:
    async with db.reader() as session:
        sizes = (
            await session.execute(
                select(InboundMail.id, func.length(InboundMail.raw))
                .where(InboundMail.state == InboundState.RECEIVED.value)
                .order_by(InboundMail.id)
                .limit(BATCH_MAILS)
            )
        ).all()
        chosen, total = [], 0
        for row_id, size in sizes:
            if chosen and total + (size or 0) > BATCH_BYTES:
                break
            chosen.append(row_id)
            total += size or 0
        if not chosen:
            return []
        rows = await session.execute(
            select(
                InboundMail.id,
                InboundMail.raw,
                InboundMail.mail_from,
                InboundMail.rcpt_tos,
                InboundMail.source,
            )
            .where(InboundMail.id.in_(chosen))
            .order_by(InboundMail.id)
        )
        return [_Stored(*row) for row in rows]


def _finish(inbound: InboundMail, state: InboundState, error: str | None = None) -> None:
    inbound.state = state.value
    inbound.error = error[:4000] if error else None
    inbound.processed_at = utcnow()


async def _to_ticket(work: _Work, prepared: PreparedMail, events: list[Event]) -> None:
    """Ticket rows for one parsed mail. A MailRejected is raised only before any write."""
    session, desk, inbound = work.session, work.desk, work.inbound
    mail, settings = prepared.mail, desk.settings
    sender = mail.from_address or _plain(inbound.mail_from)
    if sender is None:
        raise MailRejected("no usable sender address (From or envelope sender)")
    message_id = mail.message_id or f"<{inbound.sha256}@postdesk.invalid>"
    inbound.message_id, inbound.sender = message_id, sender
    duplicate = await _duplicate_of(session, message_id, sender)
    if duplicate is not None:
        _finish(inbound, InboundState.IGNORED, f"duplicate of ticket message {duplicate}")
        return
    customer = work.customers.get(sender)
    if customer is None:
        customer = await customer_for_address(session, sender, mail.from_name)
        work.customers[sender] = customer
    lookup = _Lookup(session, settings.secret_key, settings.support_address)
    placement = await place(mail, inbound.rcpt_tos, lookup, settings.ticket_prefix)
    ticket, rule = await _ticket_for(
        session, events, placement.ticket_id, placement.rule, customer, mail.subject
    )
    message = TicketMessage(
        kind=MessageKind.INBOUND.value,
        source=inbound.source,
        author_id=customer.id,
        sender_email=sender,
        subject=mail.subject,
        body_text=mail.text,
        body_new=mail.new_text,
        body_html=mail.html,
        message_id=message_id,
        inbound_id=inbound.id,
        thread_rule=rule,
    )
    automatic = automatic_reason(
        MailFacts(
            headers=mail.loop_headers,
            content_type=mail.content_type,
            from_address=sender,
            envelope_sender=inbound.mail_from if inbound.source == "smtp" else None,
            support_address=settings.support_address,
        )
    )
    message.is_automatic = automatic is not None
    await add_message(session, events, ticket, message)
    session.add_all(
        Attachment(ticket_message_id=message.id, **vars(p)) for p in prepared.stored_parts
    )
    if rule.startswith("new") and automatic is None:
        # A new ticket's conversation is just this mail: no need to ask the database.
        thread = Thread(in_reply_to=message_id, references=[message_id])
        await acknowledge(session, desk, ticket, customer, thread)
    inbound.ticket_id, inbound.thread_rule = ticket.id, rule
    _finish(inbound, InboundState.PROCESSED, None)


def _plain(address: str) -> str | None:
    address = address.strip().strip("<>").lower()
    return address if is_plain_address(address) else None


async def _duplicate_of(session: AsyncSession, message_id: str, sender: str) -> int | None:
    return await session.scalar(
        select(TicketMessage.id)
        .where(TicketMessage.message_id == message_id, TicketMessage.sender_email == sender)
        .limit(1)
    )


async def _ticket_for(
    session: AsyncSession,
    events: list[Event],
    ticket_id: int | None,
    rule: str,
    customer: User,
    subject: str,
) -> tuple[Ticket, str]:
    if ticket_id is not None:
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is not None and not is_finished(ticket):
            return ticket, rule
        if ticket is not None:
            new = await open_ticket(
                session, events, customer=customer, subject=subject, linked_ticket_id=ticket.id
            )
            return new, f"new: {rule} matched #{ticket.id}, which is closed or archived"
    return await open_ticket(session, events, customer=customer, subject=subject), rule


class _Lookup:
    """The database side of the threading rules."""

    def __init__(self, session: AsyncSession, secret: str, support: str) -> None:
        self._session, self._secret, self._support = session, secret, support

    async def ticket_for_message_ids(self, message_ids: Sequence[str]) -> int | None:
        if not message_ids:
            return None
        rows = dict(
            (
                await self._session.execute(
                    select(KnownMessageId.message_id, KnownMessageId.ticket_id).where(
                        KnownMessageId.message_id.in_(list(message_ids))
                    )
                )
            ).all()
        )
        return next((rows[m] for m in message_ids if m in rows), None)

    async def ticket_exists(self, ticket_id: int) -> bool:
        return await self._session.get(Ticket, ticket_id) is not None

    async def is_participant(self, ticket_id: int, address: str) -> bool:
        ticket = await self._session.get(Ticket, ticket_id)
        customer = await self._session.get(User, ticket.customer_id) if ticket else None
        if customer is not None and customer.email == address:
            return True
        wrote = await self._session.scalar(
            select(TicketMessage.id)
            .where(TicketMessage.ticket_id == ticket_id, TicketMessage.sender_email == address)
            .limit(1)
        )
        return wrote is not None

    def ticket_for_reply_address(self, address: str) -> int | None:
        return ticket_from_address(address, self._secret, self._support)


# -- administration -----------------------------------------------------------------------


async def list_inbound(db: Database, state: str | None) -> list[InboundMail]:
    # The raw bytes stay in the database: a listing of 100,000 mails must not load them.
    query = select(InboundMail).options(defer(InboundMail.raw)).order_by(InboundMail.id)
    if state and state != "all":
        query = query.where(InboundMail.state == state)
    async with db.reader() as session:
        return list(await session.scalars(query))


async def retry(db: Database, ids: Sequence[int] | None) -> int:
    """Put failed (or named) mail back in the queue; processing is idempotent."""
    query = update(InboundMail).values(state=InboundState.RECEIVED.value, error=None)
    if ids is None:
        query = query.where(InboundMail.state == InboundState.FAILED.value)
    else:
        query = query.where(
            InboundMail.id.in_(list(ids)), InboundMail.state != InboundState.PROCESSED.value
        )
    async with db.writer() as session:
        result = await session.execute(query)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
