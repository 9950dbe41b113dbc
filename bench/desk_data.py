"""A generated desk for the read benchmarks (bench/api.py, bench/console.py): agents,
customers, tickets and messages written in bulk, seeded so every run builds the same rows.

Agents are agent0..agent19@bench.test with PASSWORD; user ids 1..20 are the agents.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func, insert, select, text, update

from desk.auth.passwords import hash_password
from desk.db import Database
from desk.models import QueueMember, Ticket, TicketMessage, User
from desk.queues.routing import default_queue_id

PASSWORD = "bench password 1"
AGENTS = 20
CUSTOMERS = 20_000
STATUSES = ["OPEN", "ASSIGNED", "IN_PROGRESS", "WAITING_ON_CUSTOMER", "RESOLVED", "CLOSED"]
PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"]
WORDS = "printer invoice password login error refund account delivery screen billing".split()
CHUNK = 10_000


async def fresh_postgres(url: str, *, keep: bool = False) -> bool:
    """An empty database of the URL's name (or, with `keep`, the one there if any).
    Returns whether a database of that name was kept."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(
        url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    )
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not (exists and keep):
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return bool(exists and keep)


@asynccontextmanager
async def _without_gin_indexes(db: Database, table: str) -> AsyncIterator[None]:
    """PostgreSQL: the table's GIN indexes (full-text search) dropped while the body runs
    and built again after, as one builds them after a bulk load: kept up row by row they
    make the messages' insert several times slower. SQLite: nothing to do."""
    if db.is_sqlite:
        yield
        return
    async with db.writer() as s:
        found = (
            await s.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"
                    " AND indexdef LIKE '%USING gin%'"
                ),
                {"t": table},
            )
        ).all()
        for name, _ in found:
            await s.execute(text(f'DROP INDEX "{name}"'))
    yield
    async with db.writer() as s:
        for _, definition in found:
            await s.execute(text(definition))


async def ticket_count(db: Database) -> int:
    """How many tickets the desk holds (0 for a fresh one)."""
    async with db.reader() as s:
        return int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)


async def _users(db: Database) -> int:
    """The agents (members of the default queue, as new staff are) and customers; returns
    the default queue's id."""
    password = hash_password(PASSWORD)
    async with db.writer() as s:
        await s.execute(
            insert(User),
            [
                {
                    "email": f"agent{i}@bench.test",
                    "name": f"Agent {i}",
                    "role": "agent",
                    "password_hash": password,
                }
                for i in range(AGENTS)
            ],
        )
        await s.execute(
            insert(User),
            [
                {"email": f"customer{i}@example.com", "name": f"Customer {i}", "role": "customer"}
                for i in range(CUSTOMERS)
            ],
        )
        queue = await default_queue_id(s)
        await s.execute(
            insert(QueueMember),
            [
                {"queue_id": queue, "user_id": 1 + i, "role": "user", "notify_new_tickets": False}
                for i in range(AGENTS)
            ],
        )
    return queue


def _ticket(rng: random.Random, now: datetime, i: int, queue: int) -> dict[str, Any]:
    created = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
    assigned = None if rng.random() < 0.3 else 1 + rng.randrange(AGENTS)
    return {
        "id": i + 1,
        "queue_id": queue,
        "subject": " ".join(rng.choices(WORDS, k=5)),
        "status": "OPEN" if assigned is None else rng.choice(STATUSES[1:]),
        "priority": rng.choice(PRIORITIES),
        "customer_id": AGENTS + 1 + rng.randrange(CUSTOMERS),
        "assigned_agent_id": assigned,
        "created_at": created,
        "updated_at": created + timedelta(minutes=rng.randrange(600)),
    }


async def _tickets(
    db: Database, rng: random.Random, now: datetime, tickets: int, queue: int
) -> None:
    for start in range(0, tickets, CHUNK):
        rows = [_ticket(rng, now, i, queue) for i in range(start, min(start + CHUNK, tickets))]
        async with db.writer() as s:
            await s.execute(insert(Ticket), rows)


def _message(rng: random.Random, now: datetime, ticket_id: int) -> dict[str, Any]:
    body = " ".join(rng.choices(WORDS, k=40))
    return {
        "ticket_id": ticket_id,
        "kind": rng.choice(["inbound", "outbound", "note"]),
        "sender_email": "x@example.com",
        "subject": "s",
        "body_text": body,
        "body_new": body,
        "created_at": now,
    }


async def _messages(
    db: Database, rng: random.Random, now: datetime, tickets: range, messages: int
) -> None:
    """`messages` messages spread evenly over the ticket ids in `tickets`."""
    for start in range(0, messages, CHUNK):
        ids = range(start, min(start + CHUNK, messages))
        rows = [_message(rng, now, tickets[i % len(tickets)]) for i in ids]
        async with db.writer() as s:
            await s.execute(insert(TicketMessage), rows)


async def _long_conversations(
    db: Database, rng: random.Random, now: datetime, count: int, length: int
) -> None:
    """Tickets 1..count get `length` messages each, a minute apart (and no others), and
    are made open and unassigned (every agent sees them, whatever the queue's visibility),
    so a conversation page of `length` messages can be measured as any agent."""
    for ticket in range(1, count + 1):
        rows = []
        for j in range(length):
            row = _message(rng, now - timedelta(minutes=length - j), ticket)
            rows.append({**row, "kind": ("inbound", "outbound")[j % 2]})
        async with db.writer() as s:
            await s.execute(insert(TicketMessage), rows)
    async with db.writer() as s:
        await s.execute(
            update(Ticket).where(Ticket.id <= count).values(status="OPEN", assigned_agent_id=None)
        )


async def generate(
    db: Database,
    tickets: int,
    messages: int,
    seed: int = 3,
    *,
    long_conversations: int = 0,
    long_length: int = 200,
) -> None:
    """Rows written in bulk (the benchmarks measure reading, not intake): `tickets`
    tickets and `messages` messages spread evenly over them; with `long_conversations`,
    that many tickets (ids 1..n) hold `long_length` messages each instead, counted in
    `messages` (the other tickets share the rest)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    queue = await _users(db)
    await _tickets(db, rng, now, tickets, queue)
    spread = messages - long_conversations * long_length
    async with _without_gin_indexes(db, "ticket_messages"):
        await _messages(db, rng, now, range(long_conversations + 1, tickets + 1), spread)
        await _long_conversations(db, rng, now, long_conversations, long_length)
    # Planner statistics, as autovacuum (PostgreSQL) or an operator (SQLite) would gather;
    # on PostgreSQL also the visibility map autovacuum keeps after bulk inserts, which lets
    # a list page pick its ids from the index alone.
    async with db.write_engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE"))
