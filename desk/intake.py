"""Inbound mail, step one: `Receiver` commits the raw bytes (the SMTP 250, an IMAP flag, a
provider's 200 wait for it) and wakes the inbound worker. Step two, any time later and
idempotently, turns stored mail into ticket rows (desk/inbound_batches.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from desk.db import Database, insert_ignoring_conflicts
from desk.errors import NotFound
from desk.imports import is_imported
from desk.metrics import Metrics
from desk.models import InboundMail, InboundState, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # None: not from SMTP (API, import); "" is the null sender <>
    rcpt_tos: tuple[str, ...]
    source: str = "smtp"


class Receiver:
    """Stores raw mail with group commit: concurrent deliveries share one durable commit.
    There is one, built with the Desk, so every way mail arrives (SMTP, IMAP, the provider
    endpoints, import) wakes the inbound worker that waits on `stored`."""

    def __init__(self, db: Database, metrics: Metrics) -> None:
        self._db = db
        self._metrics = metrics
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
                except BaseException:
                    if future.done() and not future.cancelled():
                        future.exception()  # this caller raises instead: not "never retrieved"
                    raise
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
        self._received([(raw, env) for raw, env, _ in batch], ids)
        self.stored.set()

    async def receive_many(self, mails: Sequence[tuple[bytes, Envelope]]) -> list[int]:
        """A group the caller gathered itself (an IMAP fetch, a chunk of an archive): one
        commit, ids in the order given."""
        ids = await store_raw(self._db, mails)
        self._received(mails, ids)
        self.stored.set()
        return ids

    def _received(self, mails: Sequence[tuple[bytes, Envelope]], ids: Sequence[int]) -> None:
        """One log line and one count per committed mail (a redelivered copy too: it was
        received again, under the first copy's id)."""
        for (raw, envelope), row_id in zip(mails, ids, strict=True):
            self._metrics.mail_received.labels(envelope.source).inc()
            log.log(
                logging.DEBUG if is_imported(envelope.source) else logging.INFO,
                "mail %s received from %s: %d bytes, envelope sender %s",
                row_id,
                envelope.source,
                len(raw),
                _sender(envelope.mail_from),
                extra={
                    "inbound_id": row_id,
                    "source": envelope.source,
                    "size": len(raw),
                    "mail_from": envelope.mail_from,
                },
            )


def _sender(mail_from: str | None) -> str:
    """The envelope sender as a log shows it: <> is the null sender (bounces)."""
    if mail_from is None:
        return "(none)"
    return mail_from or "<>"


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


# -- administration -----------------------------------------------------------------------


async def list_inbound(db: Database, state: str | None) -> list[InboundMail]:
    # The raw bytes stay in the database: a listing of 100,000 mails must not load them.
    query = select(InboundMail).options(defer(InboundMail.raw)).order_by(InboundMail.id)
    if state and state != "all":
        query = query.where(InboundMail.state == state)
    async with db.reader() as session:
        return list(await session.scalars(query))


async def inbound_mail(db: Database, mail_id: int) -> InboundMail:
    """One stored mail, raw bytes included; NotFound if there is none with this id."""
    async with db.reader() as session:
        row = await session.get(InboundMail, mail_id)
    if row is None:
        raise NotFound(f"no inbound mail with id {mail_id}", id=mail_id)
    return row


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
