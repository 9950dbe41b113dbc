"""The event bus contract and its in-process implementation (the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from desk.events.base import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], Awaitable[None]]
# Takes the events of one publish together (in order), to look up what they all need at
# once: a batch of mail publishes one event per mail.
ManySubscriber = Callable[[list[Event]], Awaitable[None]]
Kinds = tuple[type[Event], ...]


class EventBus(Protocol):
    def subscribe(self, subscriber: Subscriber, kinds: Kinds | None = None) -> None:
        """Hand `subscriber` the events of `kinds` (instances of these classes), or all."""

    def subscribe_many(self, subscriber: ManySubscriber, kinds: Kinds | None = None) -> None:
        """As `subscribe`, the events of one publish in one call (those heard from another
        process come one by one)."""

    async def publish(self, events: Iterable[Event]) -> None:
        """Deliver after commit. Never raises: events are notifications, the database is truth."""


class LocalBus:
    """Hands each event to every subscriber that wants its kind, in this process, one
    failing subscriber isolated from the others."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, Kinds | None]] = []
        self._many: list[tuple[ManySubscriber, Kinds | None]] = []

    def subscribe(self, subscriber: Subscriber, kinds: Kinds | None = None) -> None:
        self._subscribers.append((subscriber, kinds))

    def subscribe_many(self, subscriber: ManySubscriber, kinds: Kinds | None = None) -> None:
        self._many.append((subscriber, kinds))

    async def publish(self, events: Iterable[Event]) -> None:
        published = list(events)
        for event in published:
            await self._deliver_each(event)
        await self._deliver_many(published)

    async def deliver(self, event: Event) -> None:
        await self._deliver_each(event)
        await self._deliver_many([event])

    async def _deliver_each(self, event: Event) -> None:
        for subscriber, kinds in list(self._subscribers):
            if kinds is not None and not isinstance(event, kinds):
                continue
            try:
                await subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.type)

    async def _deliver_many(self, events: list[Event]) -> None:
        for subscriber, kinds in list(self._many):
            wanted = [e for e in events if kinds is None or isinstance(e, kinds)]
            if not wanted:
                continue
            try:
                await subscriber(wanted)
            except Exception:
                log.exception("event subscriber failed on %d events", len(wanted))

    async def close(self) -> None:
        self._subscribers.clear()
        self._many.clear()


def waker(flag: asyncio.Event) -> Subscriber:
    """A subscriber that only sets `flag`: for a loop that polls, to start its next round
    now because a change may have given it work."""

    async def wake(_event: Event) -> None:
        flag.set()

    return wake
