"""What S0's `column` costs the ticket list (desk/board/card_column.py): a page of tickets
read with and without each ticket's board column, and the `?column=` filter, on generated
data (bench/api.py's tickets in the default queue, a third of them placed on its board).

The column is read by correlated subqueries in the page's own statement; this measures what
they add per page (the statements per page do not change: tests/test_ticket_column.py).
Without the column the page statement is what it was before the column existed. Numbers go
to docs/benchmarks.md.

    python -m bench.ticket_column [--database postgresql+asyncpg://...] [--tickets 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

import desk.tickets.queries as queries
from bench.api import fresh_postgres, generate
from desk.config import load_settings
from desk.db import Database
from desk.models import BoardColumn, Ticket, TicketPosition, User
from desk.tickets.queries import TicketFilter, list_tickets


async def place_cards(db: Database, seed: int = 7) -> list[int]:
    """A third of the tickets put in a column of the default queue's board (the rest sit in
    their status's column); the board's column ids."""
    rng = random.Random(seed)
    async with db.writer() as s:
        columns = list(await s.scalars(select(BoardColumn.id).where(BoardColumn.queue_id == 1)))
        ids = list(await s.scalars(select(Ticket.id)))
        rows = [
            {"ticket_id": t, "column_id": rng.choice(columns), "rank": 1024 * n}
            for n, t in enumerate(ids)
            if rng.random() < 1 / 3
        ]
        for start in range(0, len(rows), 10_000):
            await s.execute(insert(TicketPosition), rows[start : start + 10_000])
    return columns


async def timed(run: Callable[[], Awaitable[Any]], rounds: int) -> tuple[float, float]:
    """The median wall-clock and CPU milliseconds of `rounds` runs, after one to warm up.
    CPU time is this process's (on SQLite the query runs in it too): on a shared, loaded
    machine it moves much less than the wall clock."""
    await run()
    wall, cpu = [], []
    for _ in range(rounds):
        began, began_cpu = time.perf_counter(), time.process_time()
        await run()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def measure(db: Database, columns: list[int], rounds: int) -> dict[str, tuple[float, float]]:
    async with db.writer() as s:
        admin = User(email="admin@bench.test", name="Admin", role="admin")
        s.add(admin)
    rng = random.Random(11)
    with_column = queries.board_column

    def page(size: int, f: TicketFilter) -> Callable[[], Awaitable[Any]]:
        return lambda: list_tickets(db, admin, f, offset=rng.randrange(0, 20) * size, limit=size)

    results: dict[str, tuple[float, float]] = {}
    for size in (50, 200):
        for name, column in (("with column", with_column), ("without column", lambda _u: ())):
            queries.board_column = column  # type: ignore[assignment]
            try:
                results[f"page of {size}, {name}"] = await timed(page(size, TicketFilter()), rounds)
            finally:
                queries.board_column = with_column
    for column in columns[:2]:
        f = TicketFilter(column=column)
        results[f"page of 50, ?column={column}"] = await timed(page(50, f), rounds)
    return results


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-column-"))
    env = {"POSTDESK_DATA_DIR": str(folder)}
    if args.database:
        await fresh_postgres(args.database)
        env |= {"POSTDESK_DATABASE_URL": args.database, "POSTDESK_SECRET_KEY": "b" * 48}
    db = Database(load_settings(env, read_dotenv=False).database_url)
    await db.migrate()
    await generate(db, args.tickets, 0)
    columns = await place_cards(db)
    print(f"{args.tickets} tickets on {db.write_engine.dialect.name}, median of {args.rounds}")
    for name, (wall, cpu) in (await measure(db, columns, args.rounds)).items():
        print(f"{name:36s} {wall:8.2f} ms wall {cpu:8.2f} ms CPU")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="postgresql+asyncpg://... (dropped!)")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
