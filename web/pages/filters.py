"""Template filters the pages share: times as people read them."""

from __future__ import annotations

from datetime import datetime

from desk.models.base import utcnow


def iso(value: datetime | None) -> str:
    """For `<time datetime=...>`: ISO 8601 with the offset (the pages' script localises it)."""
    return value.isoformat() if value else ""


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "just now", "5 min", "3 h", "2 d", "6 w"."""
    if value is None:
        return ""
    seconds = ((now or utcnow()) - value).total_seconds()
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "just now"
