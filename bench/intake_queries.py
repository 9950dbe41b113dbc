"""SQL statements and CPU time per processed mail: the ingestion benchmark's corpus stored
first, then processed in this process with every statement counted. Unlike mails/s, the
count does not move with the machine's load, so two commits compare exactly; CPU time moves
far less than wall time (the batches are the same on every run: all full):

    python -m bench.intake_queries --mails 640 [--database postgresql+asyncpg://...]

To measure another commit, run it from that commit's checkout with this file copied in
(`PYTHONPATH=. python path/to/intake_queries.py`). The batches are full (every mail is
stored before processing starts), so this is the steady state of a busy intake.
A PostgreSQL database named by --database is dropped and created anew.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, func, select

from bench.desk_data import fresh_postgres
from bench.ingest import cpu_seconds, generate
from daemon.inbound_worker import drain
from daemon.worker_pool import WorkerPool
from desk.config import load_settings
from desk.context import Desk, open_desk
from desk.intake import Envelope, store_raw
from desk.mail.parse import Limits
from desk.models import InboundMail, KnownMessageId, OutboxMail, Ticket, User


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="pd-queries-"))
    env = {
        "POSTDESK_DATA_DIR": str(data),
        "POSTDESK_SECRET_KEY": "bench-secret-key-0123456789-0123456789",
        "POSTDESK_SUPPORT_ADDRESS": "support@localhost",
    }
    if args.database:
        await fresh_postgres(args.database)
        env["POSTDESK_DATABASE_URL"] = args.database
    settings = load_settings(env, read_dotenv=False)
    mails = generate(args.mails)
    pool = WorkerPool(Limits(cpu_seconds=5), str(settings.attachments_dir), workers=2)
    try:
        async with open_desk(settings) as desk:
            envelope = Envelope(mail_from="bench@example.com", rcpt_tos=("support@localhost",))
            for start in range(0, len(mails), 50):
                await store_raw(desk.db, [(m, envelope) for m in mails[start : start + 50]])
            counts, by_statement = _count_statements(desk)
            server_before = await _server_cpu(args.database)
            cpu_before = time.process_time()
            done = await drain(desk, pool.prepare)
            cpu = time.process_time() - cpu_before
            server = await _server_cpu(args.database) - server_before
            total = sum(counts.values())
            print(f"{done} mails, {total} statements, {total / done:.3f} per mail: {dict(counts)}")
            print(
                f"CPU a mail: this process {cpu * 1000 / done:.2f} ms (SQLite's work included; "
                f"parsing apart), PostgreSQL's backends {server * 1000 / done:.2f} ms"
            )
            print(await _outcome(desk))
            if args.by_statement:
                for sql, n in by_statement.most_common(args.by_statement):
                    print(f"{n:6d}  {sql}")
    finally:
        pool.close()


async def _server_cpu(url: str | None) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to the benchmark's
    database (0 for SQLite, whose work runs in this process). The daemon's pooled
    connections stay open through the run, so their backends are counted whole."""
    if not url:
        return 0.0
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()
    return sum(cpu_seconds(row["pid"]) for row in pids)


def _count_statements(
    desk: Desk,
) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Statements by their first word, and by their text (its first 160 characters)."""
    counts: collections.Counter[str] = collections.Counter()
    by_statement: collections.Counter[str] = collections.Counter()

    def seen(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        counts[sql.split(None, 1)[0].upper()] += 1
        by_statement[" ".join(sql.split())[:160]] += 1

    engines = {
        id(e.sync_engine): e.sync_engine for e in (desk.db.write_engine, desk.db.read_engine)
    }
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", seen)
    return counts, by_statement


async def _outcome(desk: Desk) -> str:
    """What the mails became, so two commits can be seen to do the same work."""
    async with desk.db.reader() as session:
        rules = await session.execute(
            select(InboundMail.thread_rule, func.count()).group_by(InboundMail.thread_rule)
        )
        rows = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Ticket, OutboxMail, KnownMessageId, User)
        ]
        links = await session.execute(
            select(InboundMail.id, InboundMail.ticket_id).order_by(InboundMail.id)
        )
        digest = hashlib.sha256(repr(links.all()).encode()).hexdigest()[:12]
    return (
        f"rules {dict(rules.all())}; tickets, outbox, known ids, users: {rows}; "
        f"mail -> ticket digest {digest}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=640)
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    parser.add_argument(
        "--by-statement", type=int, default=0, metavar="N", help="also print the N most run"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
