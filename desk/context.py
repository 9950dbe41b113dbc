"""The resources every part shares, built once by the composition root and passed down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.ratelimit import (
    Counter,
    LoginGuard,
    MemoryCounter,
    RedisCounter,
    limiter_client,
    namespace,
)
from desk.config import Settings
from desk.db import Database
from desk.desk_settings import refresh
from desk.events import Event, EventBus, LocalBus, Subscriber
from desk.events.redis_bus import RedisBus
from desk.intake import Receiver
from desk.metrics import Metrics
from desk.models import EventRecord
from desk.startup import check_database, check_redis, prepare_data_dir
from desk.webhooks.queue import enqueue as enqueue_webhooks

PendingEvent = Event | Callable[[], Event]


@dataclass
class Desk:
    settings: Settings
    db: Database
    bus: EventBus
    logins: LoginGuard
    receiver: Receiver  # stores inbound mail, however it came; the inbound worker waits on it
    metrics: Metrics  # this process's counters (desk/metrics.py), served by GET /metrics
    # `settings` are these (the environment's) with the run-time settings an admin stored
    # (desk/desk_settings.py) over them; read at start and again when stale.
    environment: Settings
    settings_read_at: float = 0.0  # time.monotonic() of the last read; 0: never
    # The logo as stored (desk/brand_logo.py), read with the settings: outgoing mail shows
    # it without a query per mail.
    logo: dict[str, Any] | None = None

    @asynccontextmanager
    async def change(self) -> AsyncIterator[tuple[AsyncSession, list[PendingEvent]]]:
        """One write transaction; the events it collects go out only after it commits,
        so a rolled-back change never reaches a socket, webhook or mailer. An event may be
        given as a function, built after the commit, when it needs ids not yet assigned."""
        events: list[PendingEvent] = []
        async with self.db.writer() as session:
            yield session, events
            stored = await store_events(session, events)
        await self.bus.publish(stored)


async def store_events(session: AsyncSession, pending: list[PendingEvent]) -> list[Event]:
    """Build the events (ids of new rows exist after the flush) and store them, with their
    webhook deliveries, in the same transaction. An event's id is its row's; a ticket's
    events are written under the ticket's row lock, so on one ticket ids increase in commit
    order (what resuming relies on). A kind that is never stored (a board's card moves) is
    published all the same, in its place among the others, with the id it was made with."""
    if not pending:
        return []
    await session.flush()
    built = [e() if callable(e) else e for e in pending]
    rows = {
        n: EventRecord(type=e.type, ticket_id=e.ticket_id, data=e.data(), created_at=e.at)
        for n, e in enumerate(built)
        if e.stored
    }
    session.add_all(rows.values())
    await session.flush()
    published = [replace(e, id=str(rows[n].id)) if n in rows else e for n, e in enumerate(built)]
    await enqueue_webhooks(session, [e for e in published if e.stored])
    return published


# A component (the web server, ...) is an async context manager factory taking the Desk:
# entered when the daemon starts, exited in reverse order when it stops. It yields the
# subscriber it needs on the event bus (the web's live hub), or None; the daemon subscribes
# it with every other listener, in one place (daemon.lifecycle.subscribe_listeners).
Component = Callable[[Desk], AbstractAsyncContextManager[Subscriber | None]]


@asynccontextmanager
async def open_desk(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Desk]:
    async with AsyncExitStack() as stack:
        prepare_data_dir(settings.data_dir)
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        await check_database(db)  # a server or database that is not there: one line
        if migrate:
            await db.migrate()
        bus: EventBus
        counter: Counter
        if settings.redis_url:
            await check_redis(settings.redis_url)
            redis_bus = RedisBus(settings.redis_url, namespace(settings.database_url, "events"))
            await redis_bus.start()
            stack.push_async_callback(redis_bus.close)
            bus = redis_bus
            client = limiter_client(settings.redis_url)
            stack.push_async_callback(client.aclose)
            counter = RedisCounter(client, namespace(settings.database_url))
        else:
            local = LocalBus()
            stack.push_async_callback(local.close)
            bus, counter = local, MemoryCounter()
        metrics = Metrics()
        desk = Desk(
            settings=settings,
            db=db,
            bus=bus,
            logins=LoginGuard(counter),
            receiver=Receiver(db, metrics),
            metrics=metrics,
            environment=settings,
        )
        if migrate:  # the table is there: what an admin set at run time applies from the start
            await refresh(desk)
        yield desk
