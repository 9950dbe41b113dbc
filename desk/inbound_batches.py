"""Inbound mail, step two, run by the inbound worker and by import: stored mail is taken in
batches, parsed in the worker processes, and settled in one transaction per batch: its rows
locked, one preload (desk/preload.py), `process` for each mail (desk/processing.py), one
flush, `after_flush`, one commit. Settling is idempotent: a mail stays `received` until the
transaction that settles it commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.context import Desk, PendingEvent
from desk.db import Database
from desk.desk_settings import refresh_if_stale
from desk.imports import is_imported
from desk.mail.prepare import ParseResult, Rejected
from desk.models import InboundMail, InboundState
from desk.preload import Incoming, preload
from desk.processing import after_flush, finish, identify, process

log = logging.getLogger(__name__)

Prepare = Callable[[bytes], Awaitable[ParseResult]]
Arrived = tuple[InboundMail, ParseResult]
BATCH_BYTES = 32 * 1024 * 1024
BATCH_MAILS = 64
# The one pause of intake. A batch has a fixed cost (its queries, its commit) however many
# mails it carries: taken at once, a batch holds only the few mails stored while the last
# one was written; taken a moment later it holds many more. So a batch that would not be
# full (after a batch that was not, or when the worker is woken) is taken this much later.
# On SQLite the pause also hands the write lock to the SMTP commits queued behind a batch.
GATHER_SECONDS = 0.05


# How long a batch waits for the parse of one of its mails. A mail still being parsed then
# (a slow or hostile one, until its CPU budget is spent) is left `received` and taken by a
# later batch once parsed: the batch is written without it, so it holds up no other mail.
SLOW_PARSE_SECONDS = 1.0


@dataclass(frozen=True)
class StoredMail:
    id: int
    raw: bytes


Ready = tuple[StoredMail, ParseResult]


class Parses:
    """The parses in the worker processes, by stored mail, kept across batches: a mail whose
    parse outlasts its batch is not parsed a second time when it is fetched again, and the
    batch that fetches it takes it only once its parse has ended (no batch waits for it)."""

    def __init__(self, prepare: Prepare, wake: asyncio.Event | None = None) -> None:
        self._prepare = prepare
        self._wake = wake  # set when a parse no batch waited for ends
        self._running: dict[int, asyncio.Task[ParseResult]] = {}
        self._waited: dict[int, float] = {}  # until when the batch that started it waits
        self._left: set[int] = set()  # parses a batch was written without

    def start(self, batch: list[StoredMail]) -> None:
        """Start parsing the batch's mails that are not being parsed already."""
        deadline = asyncio.get_running_loop().time() + SLOW_PARSE_SECONDS
        for mail in batch:
            if mail.id not in self._running:
                self._running[mail.id] = asyncio.ensure_future(self._prepare(mail.raw))
                self._waited[mail.id] = deadline

    async def ready(self, batch: list[StoredMail]) -> list[Ready]:
        """The batch's mails parsed: each waited for until SLOW_PARSE_SECONDS after its
        parse started, none longer. One still being parsed is left out (it stays
        `received`); when its parse ends, the worker is woken to take it."""
        loop = asyncio.get_running_loop()
        tasks = {m.id: self._running[m.id] for m in batch}
        waiting = [t for i, t in tasks.items() if not t.done() and self._waited[i] > loop.time()]
        if waiting:
            until = max(self._waited[m.id] for m in batch)
            await asyncio.wait(waiting, timeout=until - loop.time())
        ready: list[Ready] = []
        for mail in batch:
            task = tasks[mail.id]
            if not task.done():
                if mail.id not in self._left:
                    self._left.add(mail.id)
                    task.add_done_callback(self._ended)
                continue
            del self._running[mail.id], self._waited[mail.id]
            self._left.discard(mail.id)
            ready.append((mail, task.result()))  # a parse that raised is started again
        return ready

    def _ended(self, _task: asyncio.Future[ParseResult]) -> None:
        if self._wake is not None:
            self._wake.set()

    @property
    def running(self) -> bool:
        return bool(self._running)

    async def any_ended(self) -> None:
        await asyncio.wait(self._running.values(), return_when=asyncio.FIRST_COMPLETED)

    def cancel(self) -> None:
        """On a stop: their mail stays `received` and is parsed again on the next start."""
        for task in self._running.values():
            task.cancel()
            task.add_done_callback(_retrieved)
        self._running.clear()
        self._waited.clear()
        self._left.clear()


async def process_pending(
    desk: Desk, prepare: Prepare, stopping: asyncio.Event | None = None
) -> int:
    """Process stored mail in batches until none is left (or `stopping` is set: the batch in
    hand is finished, the rest stays `received`); return how many were settled (0: nothing
    to do), a mail whose parse outlasted its batch included once it has ended.

    On PostgreSQL the next batch is fetched and parsed in the worker processes while one is
    written: the stages overlap instead of taking turns. SQLite has one writer: there the
    overlap made batches smaller and their extra write transactions took the lock from
    SMTP's commits, so it takes turns.
    """
    parses = Parses(prepare)
    try:
        total = await settle_pending(desk, parses, stopping)
        while parses.running and not (stopping and stopping.is_set()):
            await parses.any_ended()
            total += await settle_pending(desk, parses, stopping)
        return total
    finally:
        parses.cancel()


async def settle_pending(desk: Desk, parses: Parses, stopping: asyncio.Event | None = None) -> int:
    """process_pending's batches, with parses that may outlast it (the inbound worker keeps
    one `Parses` while it runs): return how many mails were settled."""
    await refresh_if_stale(desk)  # the auto-reply cap and desk name an admin may have changed
    overlap = not desk.db.is_sqlite
    total = 0
    batch = await _fetch_and_parse(desk.db, parses, after=0)
    while batch:
        arrived = await parses.ready(batch)
        if overlap:
            settling = asyncio.ensure_future(_settle(desk, arrived))
            try:
                following = await _fetch_next(desk.db, parses, batch)
            finally:
                await settling  # never left running behind an error or a stop
        else:
            await _settle(desk, arrived)
            following = await _fetch_next(desk.db, parses, batch)
        total += len(arrived)
        if stopping is not None and stopping.is_set():
            break  # the batch in hand is written; the one fetched after it stays received
        batch = following
    return total


def _retrieved(task: asyncio.Future[ParseResult]) -> None:
    """A cancelled parse ends with CancelledError: nobody waits for it, so take its
    outcome here, or asyncio logs it as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _fetch_next(db: Database, parses: Parses, batch: list[StoredMail]) -> list[StoredMail]:
    if len(batch) < BATCH_MAILS:
        await asyncio.sleep(GATHER_SECONDS)
    return await _fetch_and_parse(db, parses, after=batch[-1].id)


async def _fetch_and_parse(db: Database, parses: Parses, after: int) -> list[StoredMail]:
    """The next batch, its parsing started in the worker processes."""
    batch = await _next_batch(db, after=after)
    parses.start(batch)
    return batch


async def _next_batch(db: Database, *, after: int) -> list[StoredMail]:
    """The oldest waiting mail with ids above `after` (the batch being written is still
    `received`), up to BATCH_MAILS and BATCH_BYTES. A mail committed late with a lower id
    is found by the next call from 0."""
    async with db.reader() as session:
        sizes = await session.execute(
            select(InboundMail.id, func.length(InboundMail.raw))
            .where(InboundMail.state == InboundState.RECEIVED.value, InboundMail.id > after)
            .order_by(InboundMail.id)
            .limit(BATCH_MAILS)
        )
        chosen: list[int] = []
        total = 0
        for row_id, size in sizes:
            if chosen and total + (size or 0) > BATCH_BYTES:
                break
            chosen.append(row_id)
            total += size or 0
        if not chosen:
            return []
        rows = await session.execute(
            select(InboundMail.id, InboundMail.raw)
            .where(InboundMail.id.in_(chosen))
            .order_by(InboundMail.id)
        )
        return [StoredMail(row_id, raw) for row_id, raw in rows]


async def _settle(desk: Desk, parsed: list[Ready]) -> None:
    """One transaction for the batch's parsed mails. If anything unexpected fails, it is
    rolled back and settled again carefully, one savepoint per mail, so one bad mail is
    recorded as failed with its reason and never blocks the others."""
    if not parsed:
        return  # every mail of the batch is still being parsed
    try:
        async with desk.change() as (session, events):
            arrived = await _lock(session, parsed)
            await settle(desk, session, events, arrived)
    except Exception:
        log.warning(
            "a batch of %d mails failed; settling them one by one", len(parsed), exc_info=True
        )
        async with desk.change() as (session, events):
            arrived = await _lock(session, parsed)
            for one in arrived:
                await _settle_alone(desk, session, events, one)
    _report(desk, [inbound for inbound, _ in arrived])


def _report(desk: Desk, settled: list[InboundMail]) -> None:
    """After the commit: one line and one count per settled mail (the rows keep their
    values past the commit: expire_on_commit is off)."""
    for inbound in settled:
        desk.metrics.mail_settled.labels(inbound.state).inc()
        fields = {
            "inbound_id": inbound.id,
            "state": inbound.state,
            "ticket_id": inbound.ticket_id,
            "thread_rule": inbound.thread_rule,
            "reason": inbound.error,
        }
        # An archive import settles thousands of mails under its own progress bar.
        level = logging.DEBUG if is_imported(inbound.source) else logging.INFO
        if inbound.state == InboundState.PROCESSED and inbound.ticket_id is not None:
            line = "mail %s processed: ticket %s (%s)"
            log.log(level, line, inbound.id, inbound.ticket_id, inbound.thread_rule, extra=fields)
        else:
            line = "mail %s %s: %s"
            log.log(level, line, inbound.id, inbound.state, inbound.error, extra=fields)


async def _lock(session: AsyncSession, parsed: list[Ready]) -> list[Arrived]:
    """The batch's rows that are still `received`, locked and counted as attempted; a row
    another worker holds is skipped (that worker settles it)."""
    found = await session.scalars(
        select(InboundMail)
        .where(
            InboundMail.id.in_([m.id for m, _ in parsed]),
            InboundMail.state == InboundState.RECEIVED.value,
        )
        .with_for_update(skip_locked=True)
    )
    rows = {row.id: row for row in found}
    arrived = [(rows[m.id], r) for m, r in parsed if m.id in rows]
    for inbound, _ in arrived:
        inbound.attempts += 1
    return arrived


async def settle(
    desk: Desk, session: AsyncSession, events: list[PendingEvent], arrived: Sequence[Arrived]
) -> None:
    """Decide every mail against one preload, write them all with one flush, then do what
    needs the new tickets' numbers."""
    mails: list[Incoming] = []
    for inbound, result in arrived:
        found = identify(inbound, result, desk.settings)
        if isinstance(found, Rejected):
            finish(inbound, InboundState.FAILED, found.reason)
        else:
            mails.append(found)
    if not mails:
        return
    # Nothing is written before the one flush below (a query would otherwise flush the
    # rows changed so far in a statement of their own).
    with session.no_autoflush:
        context = await preload(desk, session, events, mails)
        for mail in mails:
            await process(mail, context)
    await session.flush()
    await after_flush(context)


async def _settle_alone(
    desk: Desk, session: AsyncSession, events: list[PendingEvent], arrived: Arrived
) -> None:
    """One mail in its own savepoint: if it fails, it alone is kept as failed with why."""
    inbound, inbound_id = arrived[0], arrived[0].id
    mail_events: list[PendingEvent] = []
    try:
        async with session.begin_nested():
            await settle(desk, session, mail_events, [arrived])
    except Exception as exc:
        log.exception("inbound mail %s failed", inbound_id)
        await session.refresh(inbound)  # the savepoint's rollback expired it
        finish(inbound, InboundState.FAILED, f"{type(exc).__name__}: {exc}")
    else:
        events.extend(mail_events)
