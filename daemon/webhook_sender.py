"""Delivers webhooks: claims due deliveries, POSTs each signed payload, logs the attempt.
Woken by every stored event (its change may have queued deliveries) and polling besides, so
retries fall due on time and deliveries queued by another replica are sent too.

The HTTP client resolves names through `GuardedResolver`, which refuses private, loopback,
link-local and metadata addresses at connection time (unless allowed by setting), and never
follows redirects: a public URL cannot be bent towards an internal one. aiohttp connects to
an IP literal without asking any resolver, so `_attempt` checks literals itself."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from desk.context import Desk
from desk.waiting import still_running, wait_event
from desk.webhooks.destinations import is_forbidden, literal_host
from desk.webhooks.queue import Due, Outcome, claim_due, record
from desk.webhooks.signing import signed_headers

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 10.0
CONCURRENCY = 10


class GuardedResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if not is_forbidden(r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses webhooks may not reach")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def client_session(allow_private: bool) -> aiohttp.ClientSession:
    resolver = aiohttp.ThreadedResolver() if allow_private else GuardedResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, limit=CONCURRENCY * 2)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        headers={"User-Agent": "postdesk-webhooks/1"},
    )


async def deliver_due(
    desk: Desk, http: aiohttp.ClientSession, stopping: asyncio.Event | None = None
) -> int:
    """Attempt everything due now; return how many attempts were made (the run-once form).
    Once `stopping` is set, the attempts in flight finish and no more are claimed."""
    attempted = 0
    while not (stopping and stopping.is_set()) and (due := await claim_due(desk.db, CONCURRENCY)):
        await asyncio.gather(*(_attempt(desk, http, d) for d in due))
        attempted += len(due)
    return attempted


async def _attempt(desk: Desk, http: aiohttp.ClientSession, due: Due) -> None:
    body = json.dumps(due.body, separators=(",", ":"), default=str).encode()
    headers = signed_headers(due.secret, f"msg_{due.id}", int(time.time()), body)
    started = time.monotonic()
    refused = _refused_literal(due.url, desk.settings.webhook_allow_private)
    status, error = (None, refused) if refused else await _post(http, due.url, body, headers)
    outcome = Outcome(status, error, int((time.monotonic() - started) * 1000))
    if error:
        desk.metrics.webhook_failures.inc()
        where = _without_query(due.url)  # a receiver's URL may carry a token in its query
        fields = {"delivery_id": due.id, "url": where, "status": status, "error": error}
        log.warning("webhook delivery %s to %s failed: %s", due.id, where, error, extra=fields)
    s = desk.settings
    await record(desk.db, due, outcome, s.desk_name, s.support_address)


def _refused_literal(url: str, allow_private: bool) -> str | None:
    """Why the URL's IP literal may not be reached (the resolver's guard never sees it)."""
    host = literal_host(url)
    if allow_private or host is None or not is_forbidden(host):
        return None
    return f"{host} is an address webhooks may not reach"


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None]:
    """The receiver's status and, when it is not a success, why (status None: no answer)."""
    try:
        async with http.post(url, data=body, headers=headers, allow_redirects=False) as r:
            if 200 <= r.status < 300:
                return r.status, None
            return r.status, f"HTTP {r.status}: {(await r.text(errors='replace'))[:300]}"
    except TimeoutError:
        return None, f"no answer within {TIMEOUT_SECONDS:.0f} s"
    except (aiohttp.ClientError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


async def run_webhook_sender(
    desk: Desk, http: aiohttp.ClientSession, wake: asyncio.Event, stopping: asyncio.Event
) -> None:
    """Deliver until stopped: at once when `wake` is set (the composition root sets it on
    every stored event), otherwise every POLL_SECONDS; after `stopping`, ends once the
    deliveries in flight are done."""
    while still_running() and not stopping.is_set():
        wake.clear()
        try:
            await deliver_due(desk, http, stopping)
        except Exception:
            log.exception("webhook sender failed; retrying")
        await wait_event(wake, POLL_SECONDS)
