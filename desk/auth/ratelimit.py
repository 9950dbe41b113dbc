"""Failed-login limits per account and per client address: in memory for one process,
in Redis when POSTDESK_REDIS_URL is set so every replica counts together."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from desk.errors import DeskError

log = logging.getLogger(__name__)


class TooManyAttempts(DeskError):
    code = "rate_limited"
    status = 429


@dataclass(frozen=True)
class Limit:
    attempts: int
    window_seconds: int


# See docs/design.md, "Failed logins". An account locks after a few failures (whoever
# tries); an address is throttled only after many failures, and then only for accounts
# that have not signed in from it before, so a guesser behind a shared address (an office,
# a load balancer without POSTDESK_TRUSTED_PROXIES) cannot lock its regular users out.
ACCOUNT_LIMIT = Limit(attempts=5, window_seconds=15 * 60)
ADDRESS_LIMIT = Limit(attempts=50, window_seconds=15 * 60)
# A successful sign-in makes the (account, address) pair known for this long.
KNOWN_ADDRESS = Limit(attempts=1, window_seconds=30 * 24 * 3600)


class Counter(Protocol):
    async def wait_seconds(self, key: str, limit: Limit) -> int:
        """0 if `key` may try now, else how long until it may."""

    async def hit(self, key: str, limit: Limit) -> None: ...

    async def clear(self, key: str) -> None: ...


class MemoryCounter:
    """Sliding window of failure times per key, for the single-process default."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, limit: Limit) -> deque[float]:
        hits, horizon = self._hits[key], time.monotonic() - limit.window_seconds
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits

    async def wait_seconds(self, key: str, limit: Limit) -> int:
        hits = self._recent(key, limit)
        if len(hits) < limit.attempts:
            return 0
        return max(1, math.ceil(hits[0] + limit.window_seconds - time.monotonic()))

    async def hit(self, key: str, limit: Limit) -> None:
        self._recent(key, limit).append(time.monotonic())

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)


class RedisCounter:
    """A fixed window per key (INCR + EXPIRE), shared by every process. While Redis is
    unreachable this process counts in memory: logins keep working and stay limited."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._client, self._ns = client, namespace
        self._fallback = MemoryCounter()

    async def wait_seconds(self, key: str, limit: Limit) -> int:
        try:
            count = await self._client.get(self._ns + key)
            if count is None or int(count) < limit.attempts:
                return await self._fallback.wait_seconds(key, limit)
            return max(1, int(await self._client.ttl(self._ns + key)))
        except (redis.RedisError, OSError) as exc:
            log.warning("login limits counted in memory, Redis unavailable: %s", exc)
            return await self._fallback.wait_seconds(key, limit)

    async def hit(self, key: str, limit: Limit) -> None:
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(self._ns + key)
                pipe.expire(self._ns + key, limit.window_seconds, nx=True)
                await pipe.execute()
        except (redis.RedisError, OSError):
            await self._fallback.hit(key, limit)

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        try:
            await self._client.delete(self._ns + key)
        except (redis.RedisError, OSError):
            pass


def limiter_client(url: str) -> redis.Redis:
    """Fail fast: a login must not wait on retries while Redis is away (memory takes over)."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
    )


def namespace(database_url: str, what: str = "login") -> str:
    """Deployments sharing one Redis keep separate counts and events: keys and channels
    carry a hash of the database URL (a deployment is its database)."""
    return f"postdesk:{hashlib.sha256(database_url.encode()).hexdigest()[:12]}:{what}:"


class LoginGuard:
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    async def check(self, account: str, address: str) -> None:
        """Refuse (TooManyAttempts) before the password is looked at: `account` is locked
        (ACCOUNT_LIMIT failures, from anywhere), or `address` is throttled (ADDRESS_LIMIT
        failures, for any accounts) and `account` has not signed in from it before."""
        wait = await self._counter.wait_seconds(_account_key(account), ACCOUNT_LIMIT)
        if not wait:
            wait = await self._counter.wait_seconds(f"addr:{address}", ADDRESS_LIMIT)
            if wait and await self._known(account, address):
                wait = 0
        if wait:
            fields = {"login": account, "client": address, "retry_after": wait}
            log.warning(
                "login locked out for %s from %s (%ds)", account, address, wait, extra=fields
            )
            raise TooManyAttempts("too many failed logins; try again later", retry_after=wait)

    async def _known(self, account: str, address: str) -> bool:
        known = f"known:{_account_key(account)}:{address}"
        return await self._counter.wait_seconds(known, KNOWN_ADDRESS) > 0

    async def failed(self, account: str, address: str) -> None:
        """Count a failed login (and log it: the account named, never the password)."""
        log.warning(
            "login failed for %s from %s",
            account,
            address,
            extra={"login": account, "client": address},
        )
        await self._counter.hit(_account_key(account), ACCOUNT_LIMIT)
        await self._counter.hit(f"addr:{address}", ADDRESS_LIMIT)

    async def spend(self, key: str, limit: Limit, what: str) -> None:
        """Count one use of something rationed (sign-up codes, ...), refusing past `limit`."""
        wait = await self._counter.wait_seconds(key, limit)
        if wait:
            raise TooManyAttempts(f"too many {what}; try again later", retry_after=wait)
        await self._counter.hit(key, limit)

    async def is_locked(self, account: str) -> bool:
        """Whether `account` is locked out now (ACCOUNT_LIMIT failures, from anywhere)."""
        return await self._counter.wait_seconds(_account_key(account), ACCOUNT_LIMIT) > 0

    async def unlock(self, account: str) -> None:
        """Forget the account's failed logins (an admin lifted its lockout, or it set a new
        password); the counts per client address stay."""
        log.info("login lockout lifted for %s", account, extra={"login": account})
        await self._counter.clear(_account_key(account))

    async def succeeded(self, account: str, address: str = "unknown") -> None:
        log.info(
            "login as %s from %s", account, address, extra={"login": account, "client": address}
        )
        await self._counter.clear(_account_key(account))
        if not await self._known(account, address):
            await self._counter.hit(f"known:{_account_key(account)}:{address}", KNOWN_ADDRESS)


def _account_key(account: str) -> str:
    """The counter of an account: its email as the accounts table matches it (case and
    surrounding spaces ignored), so `Agent1@…` typed at sign-in and the stored `agent1@…`
    an admin unlocks are one lockout."""
    return f"acct:{account.strip().lower()}"
