"""Intake's cost per batch: a batch of new tickets runs the same SQL statements whatever
the number of its mails. A query per mail would cost its round trip and, after the batch's
flush, also write the rows added so far one mail at a time (issue 15's guard rail:
docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from daemon.inbound_worker import drain
from daemon.worker_pool import WorkerPool
from desk.config import Settings
from desk.context import open_desk
from desk.intake import Envelope, store_raw
from desk.mail.parse import parse_limits
from tests.support import make_mail


async def test_a_batch_of_new_tickets_costs_the_same_statements_whatever_its_size(
    settings: Settings,
) -> None:
    pool = WorkerPool(parse_limits(settings), str(settings.attachments_dir), workers=1)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        statements.append(sql)

    try:
        async with open_desk(settings) as desk:
            envelope = Envelope(mail_from="someone@example.com", rcpt_tos=("support@localhost",))
            engine = desk.db.write_engine.sync_engine
            counts: dict[int, int] = {}
            for size in (2, 12):
                mails = [
                    make_mail(sender=f"customer{size}-{i}@example.com", subject=f"Order {i}")[0]
                    for i in range(size)
                ]
                await store_raw(desk.db, [(raw, envelope) for raw in mails])
                event.listen(engine, "before_cursor_execute", seen)
                try:
                    assert await drain(desk, pool.prepare) == size
                finally:
                    event.remove(engine, "before_cursor_execute", seen)
                counts[size] = len(statements)
                statements.clear()
    finally:
        pool.close()
    # Each batch: the same lookups, one flush, one acknowledgement row each, one commit.
    assert counts[2] == counts[12], counts
