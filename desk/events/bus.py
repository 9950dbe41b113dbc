"""The event bus contract and its in-process implementation (the embedded default)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from desk.events.types import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    def subscribe(self, subscriber: Subscriber) -> None: ...

    async def publish(self, events: Iterable[Event]) -> None:
        """Deliver after commit. Never raises: events are notifications, the database is truth."""


class LocalBus:
    """Hands each event to every subscriber in this process, one failing subscriber isolated."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            await self.deliver(event)

    async def deliver(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                await subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.type)

    async def close(self) -> None:
        self._subscribers.clear()
