"""The event bus contract and its in-process implementation (the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from desk.events.base import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], Awaitable[None]]
Kinds = tuple[type[Event], ...]


class EventBus(Protocol):
    def subscribe(self, subscriber: Subscriber, kinds: Kinds | None = None) -> None:
        """Hand `subscriber` the events of `kinds` (instances of these classes), or all."""

    async def publish(self, events: Iterable[Event]) -> None:
        """Deliver after commit. Never raises: events are notifications, the database is truth."""


class LocalBus:
    """Hands each event to every subscriber that wants its kind, in this process, one
    failing subscriber isolated from the others."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, Kinds | None]] = []

    def subscribe(self, subscriber: Subscriber, kinds: Kinds | None = None) -> None:
        self._subscribers.append((subscriber, kinds))

    async def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            await self.deliver(event)

    async def deliver(self, event: Event) -> None:
        for subscriber, kinds in list(self._subscribers):
            if kinds is not None and not isinstance(event, kinds):
                continue
            try:
                await subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.type)

    async def close(self) -> None:
        self._subscribers.clear()


def waker(flag: asyncio.Event) -> Subscriber:
    """A subscriber that only sets `flag`: for a loop that polls, to start its next round
    now because a change may have given it work."""

    async def wake(_event: Event) -> None:
        flag.set()

    return wake
