"""Events between processes over Redis pub/sub; losing Redis loses notifications, never data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import redis.asyncio as redis

from desk.events.base import Event
from desk.events.bus import Kinds, LocalBus, ManySubscriber, Subscriber
from desk.events.types import UnknownEvent, unmarshal
from desk.waiting import stop_task, wait_event

log = logging.getLogger(__name__)


class RedisBus:
    """Publishes to one channel; a listener task hands what arrives to local subscribers.

    Every process (this one included) receives its own events through Redis, so a
    subscriber sees each event once whichever process caused it. While Redis is down,
    publish logs and drops; the listener reconnects with backoff.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._channel = channel
        self._client = redis.Redis.from_url(url)
        self._local = LocalBus()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def subscribe(self, subscriber: Subscriber, kinds: Kinds | None = None) -> None:
        self._local.subscribe(subscriber, kinds)

    def subscribe_many(self, subscriber: ManySubscriber, kinds: Kinds | None = None) -> None:
        self._local.subscribe_many(subscriber, kinds)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        if not await wait_event(self._ready, 5):
            log.warning("Redis not reachable yet; events will flow when it is")

    async def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            try:
                await self._client.publish(self._channel, event.marshal())
            except (redis.RedisError, OSError) as exc:
                log.warning("event %s not published, Redis unavailable: %s", event.type, exc)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._ready.set()
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._deliver(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("Redis event listener lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    async def _deliver(self, raw: bytes) -> None:
        try:
            event = unmarshal(raw)
        except UnknownEvent as exc:  # a newer version's kind (rolling upgrade): stored all the same
            log.warning("event from Redis not understood, dropped: %s", exc)
            return
        await self._local.deliver(event)

    async def close(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
        await self._local.close()
        await self._client.aclose()
