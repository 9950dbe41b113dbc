"""JSON responses, serialized with orjson: a page of 50 tickets costs a tenth of the time
the standard library takes, on the path every list request runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.util import LRUCache

from desk.models import User

# The database state the caller check saw (None on SQLite).
SNAPSHOT = web.RequestKey("data_snapshot", str | None)


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return _json_bytes(_dumps(data), status)


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def _json_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


class SnapshotResponses:
    """Read answers remembered for one database state, so that asking again before anything
    changed costs no more than the caller check.

    The key is the snapshot the caller check saw (PostgreSQL's `pg_current_snapshot()`,
    which any committed write anywhere changes), the caller, and the whole URL. An answer
    is only ever given again to the same person, for the same request, while the database
    is in the very state the check saw: nothing is served stale and access rules hold as
    they did when it was built. Without a snapshot (SQLite), or with no entries, nothing is
    remembered."""

    def __init__(self, entries: int = 256, largest: int = 256 * 1024) -> None:
        self._entries = entries
        self._bodies: LRUCache[Hashable, bytes] = LRUCache(max(entries, 1))
        self._largest = largest  # a long conversation is not worth the memory

    async def json(
        self, request: web.Request, user: User, build: Callable[[], Awaitable[Any]]
    ) -> web.Response:
        snapshot = request.get(SNAPSHOT)
        if not (snapshot and self._entries):
            return _json_bytes(_dumps(await build()))
        key = (snapshot, user.id, str(request.url))
        body = self._bodies.get(key)
        if body is None:
            body = _dumps(await build())
            if len(body) <= self._largest:
                self._bodies[key] = body
        return _json_bytes(body)
