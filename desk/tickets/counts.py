"""Counts for ticket lists. An exact count is cheap for a small set and costly for a big one:
an agent's view of a large desk matches tens of thousands of rows, and counting them took
more time than everything else a page needs (docs/benchmarks.md). So a count of at least
`exact_below` rows is remembered for `ttl` seconds per (who sees it, filter); smaller ones
are always counted afresh and are exact. Pagination links never depend on the count."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable


class CountCache:
    def __init__(self, ttl: float = 10.0, exact_below: int = 1000, size: int = 10_000) -> None:
        self.ttl = ttl
        self.exact_below = exact_below
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def get(self, key: Hashable) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, count = entry
        if time.monotonic() - stored_at > self.ttl:
            del self._entries[key]
            return None
        return count

    def put(self, key: Hashable, count: int) -> None:
        if count < self.exact_below:
            return
        self._entries[key] = (time.monotonic(), count)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
