"""The resources every part shares, built once by the composition root and passed down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

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
from desk.events import Event, EventBus, LocalBus
from desk.events.redis_bus import RedisBus

PendingEvent = Event | Callable[[], Event]


@dataclass
class Desk:
    settings: Settings
    db: Database
    bus: EventBus
    logins: LoginGuard

    @asynccontextmanager
    async def change(self) -> AsyncIterator[tuple[AsyncSession, list[PendingEvent]]]:
        """One write transaction; the events it collects go out only after it commits,
        so a rolled-back change never reaches a socket, webhook or mailer. An event may be
        given as a function, built after the commit, when it needs ids not yet assigned."""
        events: list[PendingEvent] = []
        async with self.db.writer() as session:
            yield session, events
        await self.bus.publish([e() if callable(e) else e for e in events])


# A component (the web server, ...) is an async context manager factory taking the Desk:
# entered when the daemon starts, exited in reverse order when it stops.
Component = Callable[[Desk], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def open_desk(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Desk]:
    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        if migrate:
            await db.migrate()
        bus: EventBus
        counter: Counter
        if settings.redis_url:
            redis_bus = RedisBus(settings.redis_url)
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
        yield Desk(settings=settings, db=db, bus=bus, logins=LoginGuard(counter))
