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

from desk.context import Desk, PendingEvent
from desk.db import Database, insert_ignoring_conflicts
from desk.mail.parse import MailRejected
from desk.mail.prepare import PreparedMail
from desk.models import InboundMail, InboundState, utcnow
from desk.processing import Outcome, finish, settle_batch

log = logging.getLogger(__name__)

Prepare = Callable[[bytes], Awaitable[PreparedMail]]
BATCH_BYTES = 32 * 1024 * 1024
BATCH_MAILS = 64
# A batch has a fixed cost (its queries, its commit) however many mails it carries. Taken
# at once, the next batch held only the few mails stored while the last one was written
# (6 on average on SQLite, 21 on PostgreSQL); taken 50 ms later it holds about 40, and
# with 4 SMTP clients SQLite went from 129 to about 170 mails/s processed and PostgreSQL
# from about 195 to 216 (docs/benchmarks.md). A mail waits at most that much longer to
# become a ticket. On SQLite the pause also hands the write lock to the SMTP commits that
# queued behind the batch.
GATHER_SECONDS = 0.05


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
                await self._commit(batch)
        return await future

    async def _commit(self, batch: list[tuple[bytes, Envelope, asyncio.Future[int]]]) -> None:
        """Every caller in the batch learns the outcome through its future; if this task
        is cancelled mid-commit, the others get an error (an SMTP 451) instead of hanging."""
        try:
            ids = await store_raw(self._db, [(raw, env) for raw, env, _ in batch])
        except Exception as exc:
            _fail(batch, exc)
            return
        except BaseException:
            _fail(batch, RuntimeError("storing was interrupted"))
            raise
        for (_, _, future), row_id in zip(batch, ids, strict=True):
            future.set_result(row_id)
        self.stored.set()


def _fail(batch: list[tuple[bytes, Envelope, asyncio.Future[int]]], exc: Exception) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(exc)


async def store_raw(db: Database, mails: Sequence[tuple[bytes, Envelope]]) -> list[int]:
    """One INSERT ... ON CONFLICT DO NOTHING RETURNING for the whole group; only copies
    already stored (same bytes) need a second look-up for their id."""
    hashes = [hashlib.sha256(raw).hexdigest() for raw, _ in mails]
    now = utcnow()
    values: dict[str, dict[str, object]] = {}
    for (raw, env), digest in zip(mails, hashes, strict=True):
        values.setdefault(
            digest,
            {
                "raw": raw,
                "sha256": digest,
                "source": env.source,
                "mail_from": env.mail_from or "",
                "rcpt_tos": list(env.rcpt_tos),
                "received_at": now,
                "state": InboundState.RECEIVED.value,
                "attempts": 0,
            },
        )
    async with db.statement_writer() as session:  # the INSERT is atomic by itself
        # The rows as parameters of one statement compiled once (SQLAlchemy sends them as
        # one multi-row INSERT): rows written into the statement were compiled anew each time.
        insert = insert_ignoring_conflicts(session, InboundMail)
        result = await session.execute(
            insert.returning(InboundMail.sha256, InboundMail.id), list(values.values())
        )
        known: dict[str, int] = dict(result.all())
        missing = [digest for digest in values if digest not in known]
        if missing:
            known.update(await _ids_by_hash(session, missing))
    return [known[d] for d in hashes]


async def known_hashes(db: Database, raws: Sequence[bytes]) -> set[bytes]:
    """Which of these exact messages are stored already."""
    by_hash = {hashlib.sha256(raw).hexdigest(): raw for raw in raws}
    async with db.reader() as session:
        found = await _ids_by_hash(session, list(by_hash))
    return {by_hash[digest] for digest in found}


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
    """Process stored mail in batches until none is left; return how many were settled
    (0: nothing to do).

    Each batch is one transaction (one commit, one fsync). If anything unexpected fails,
    it is rolled back and settled again carefully, one savepoint per mail, so one bad mail
    is recorded as failed without taking the others with it.

    On PostgreSQL the next batch is fetched and parsed in the worker processes while one is
    written: the stages overlap instead of taking turns. SQLite has one writer: there the
    overlap made batches smaller and their extra write transactions took the lock from
    SMTP's commits (95 -> 75 mails/s), so it takes turns. Either way, after a batch that
    did not fill up, the next is taken a moment later (see GATHER_SECONDS).
    """
    overlap = not desk.db.is_sqlite
    total = 0
    batch, parsing = await _fetch_and_parse(desk.db, prepare, after=0)
    try:
        while batch:
            outcomes = await parsing
            if overlap:
                settling = asyncio.ensure_future(_settle(desk, batch, outcomes))
                try:
                    following, parsing = await _fetch_next(desk.db, prepare, batch)
                finally:
                    await settling  # never left running behind an error or a stop
            else:
                await _settle(desk, batch, outcomes)
                following, parsing = await _fetch_next(desk.db, prepare, batch)
            total += len(batch)
            batch = following
    finally:
        parsing.cancel()  # only still running if writing failed; that mail stays received
    return total


async def _fetch_next(
    db: Database, prepare: Prepare, batch: list[_Stored]
) -> tuple[list[_Stored], asyncio.Future[list[Outcome]]]:
    if len(batch) < BATCH_MAILS:
        await asyncio.sleep(GATHER_SECONDS)
    return await _fetch_and_parse(db, prepare, after=batch[-1].id)


async def _fetch_and_parse(
    db: Database, prepare: Prepare, after: int
) -> tuple[list[_Stored], asyncio.Future[list[Outcome]]]:
    """The next batch, and its parsing started in the worker processes."""
    batch = await _next_batch(db, after=after)
    return batch, asyncio.ensure_future(
        asyncio.gather(*(_prepare_safely(prepare, m.raw) for m in batch))
    )


async def _settle(desk: Desk, batch: list[_Stored], outcomes: list[Outcome]) -> None:
    try:
        await _settle_batch(desk, batch, outcomes, careful=False)
    except Exception:
        log.warning(
            "a batch of %d mails failed; settling them one by one", len(batch), exc_info=True
        )
        await _settle_batch(desk, batch, outcomes, careful=True)


async def _prepare_safely(prepare: Prepare, raw: bytes) -> Outcome:
    try:
        return await prepare(raw)
    except MailRejected as exc:
        return exc


async def _next_batch(db: Database, *, after: int) -> list[_Stored]:
    """The oldest waiting mail with ids above `after` (the batch being written is still
    `received`). A mail committed late with a lower id is found by the next call from 0."""
    async with db.reader() as session:
        sizes = (
            await session.execute(
                select(InboundMail.id, func.length(InboundMail.raw))
                .where(InboundMail.state == InboundState.RECEIVED.value, InboundMail.id > after)
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


async def _settle_batch(
    desk: Desk, batch: list[_Stored], outcomes: list[Outcome], *, careful: bool
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
        by_id = {row.id: row for row in found}  # absent: another worker has it
        items = [(by_id[m.id], o) for m, o in zip(batch, outcomes, strict=True) if m.id in by_id]
        for inbound, _ in items:
            inbound.attempts += 1
        if not careful:
            await settle_batch(session, events, desk, items)
            return
        for item in items:
            await _settle_carefully(session, events, desk, item)


async def _settle_carefully(
    session: AsyncSession,
    events: list[PendingEvent],
    desk: Desk,
    item: tuple[InboundMail, Outcome],
) -> None:
    """One mail in its own savepoint: if it fails, it alone is kept as failed with why."""
    inbound, mail_events = item[0], []
    inbound_id = inbound.id
    try:
        async with session.begin_nested():
            await settle_batch(session, mail_events, desk, [item])
    except Exception as exc:
        log.exception("inbound mail %s failed", inbound_id)
        await session.refresh(inbound)  # the savepoint's rollback expired it
        finish(inbound, InboundState.FAILED, f"{type(exc).__name__}: {exc}")
    else:
        events.extend(mail_events)


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
