"""Search benchmark: a generated desk (default 1,000,000 messages on PostgreSQL, 200,000 on
SQLite) with a Zipf-like vocabulary of 20,000 words (a few very common, most rare, as in
real mail), then 200 varied queries (one word, two words, a phrase, OR, -word, a customer's
address) run as an agent and as a customer through desk.search (the function the endpoint
calls, without HTTP), reporting p50/p95 latency per role.

    python -m bench.search --database postgresql+asyncpg://postgres@127.0.0.1/postdesk_search
    python -m bench.search                     # SQLite in a temporary folder

The database is dropped and rebuilt on every run; never point it at real data.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, text

from bench.api import AGENTS, fresh_postgres, generate
from desk.config import load_settings
from desk.db import Database
from desk.models import Role, Ticket, TicketMessage, User
from desk.search.tickets import search_tickets
from desk.tickets.queries import TicketFilter

VOCABULARY = 20_000
COMMON = ("printer invoice password login error refund account delivery screen billing order "
          "help please thanks broken update").split()  # fmt: skip


def words() -> list[str]:
    """COMMON words first (the head of the distribution), then w1..wN."""
    return [*COMMON, *(f"w{i}" for i in range(1, VOCABULARY - len(COMMON) + 1))]


def zipf_weights() -> list[float]:
    return [1.0 / (rank + 1) for rank in range(VOCABULARY)]


async def fill_messages(db: Database, tickets: int, messages: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    vocab, weights = words(), zipf_weights()
    now = datetime.now(UTC)
    chunk = 10_000
    for start in range(0, messages, chunk):
        rows = []
        for _ in range(start, min(start + chunk, messages)):
            body = " ".join(rng.choices(vocab, weights, k=30))
            rows.append({"ticket_id": 1 + rng.randrange(tickets),
                         "kind": rng.choice(["inbound", "outbound", "outbound", "note"]),
                         "sender_email": "x@example.com", "subject": "", "body_text": body,
                         "body_new": body, "created_at": now})  # fmt: skip
        async with db.writer() as s:
            await s.execute(insert(TicketMessage), rows)
    async with db.write_engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))


def queries(n: int, customer_email: str, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    vocab = words()

    def word(common: bool) -> str:
        return rng.choice(COMMON) if common else vocab[rng.randrange(100, VOCABULARY)]

    shapes = [
        lambda: word(False),
        lambda: f"{word(True)} {word(False)}",
        lambda: f"{word(False)} {word(False)}",
        lambda: f'"{word(True)} {word(True)}"',
        lambda: f"{word(False)} OR {word(False)}",
        lambda: f"{word(True)} -{word(True)}",
        lambda: word(True),
        lambda: customer_email,
    ]
    return [shapes[i % len(shapes)]() for i in range(n)]


async def measure(db: Database, user: User, qs: list[str]) -> list[float]:
    timings = []
    for q in qs:
        began = time.perf_counter()
        await search_tickets(db, user, q, TicketFilter(archived="all"), offset=0, limit=50)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def run(args: argparse.Namespace) -> None:
    env = {"POSTDESK_DATA_DIR": tempfile.mkdtemp(prefix="postdesk-bench-search-"),
           "POSTDESK_SECRET_KEY": "bench-secret-" + "x" * 40}  # fmt: skip
    if args.database:
        await fresh_postgres(args.database)
        env["POSTDESK_DATABASE_URL"] = args.database
    settings = load_settings(env, read_dotenv=False)
    db = Database(settings.database_url)
    await db.migrate()
    engine = db.write_engine.dialect.name
    messages = args.messages or (1_000_000 if engine == "postgresql" else 200_000)
    tickets = max(messages // 5, 1)
    began = time.perf_counter()
    await generate(db, tickets, 0)
    await fill_messages(db, tickets, messages)
    print(f"{engine}: generated {tickets} tickets, {messages} messages "
          f"in {time.perf_counter() - began:.0f}s ({Path(env['POSTDESK_DATA_DIR'])})")  # fmt: skip
    async with db.reader() as s:
        agent = await s.scalar(select(User).where(User.role == Role.AGENT.value).limit(1))
        customer_id = await s.scalar(select(Ticket.customer_id).limit(1))
        customer = await s.get(User, customer_id)
    assert agent is not None and customer is not None
    qs = queries(args.queries, customer.email)
    await measure(db, agent, qs[:10])  # warm the caches, as a running desk would have them
    for who, user in (("agent", agent), ("customer", customer)):
        timings = await measure(db, user, qs)
        p50 = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[18]
        print(f"{who:8} {len(qs)} queries: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
              f"max {max(timings):6.1f} ms")  # fmt: skip
    await db.dispose()
    print(f"(agents: {AGENTS}; the agent sees assigned and unassigned tickets)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temp folder)")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--queries", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
