"""The count shortcut of ticket lists: a large count remembered for a few seconds.

An exact count is cheap for a small set and costly for a big one: an agent's view of a large
desk matches tens of thousands of rows, and counting them is most of a page's work. So:

- a count below `exact_below` (1,000) is counted afresh on every request and is exact;
- a count of `exact_below` or more is remembered for `ttl` (10) seconds per (who sees the
  list, filter) in the web process that counted it, so it may be up to 10 seconds old: it
  leaves out tickets created, changed into or out of the filter, or archived in those
  seconds (and another replica may answer with its own count of another moment).

Pages themselves (results, next, previous) are always read afresh and never depend on the
count. One CountCache is built by the web app's composition root and passed to
`list_tickets`."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable


class CountCache:
    """Large counts by (scope, filter), each dropped `ttl` seconds after it was counted; at
    most `size` of them, the least recently stored going first."""

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
