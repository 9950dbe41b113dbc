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


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """`age` said as a time past: "just now", "5 min ago" (never "just now ago")."""
    said = age(value, now)
    return said if said in ("", "just now") else f"{said} ago"


def filesize(size: int | None) -> str:
    """Bytes as people read them: "812 B", "14 KB", "3.2 MB" (units of 1,024)."""
    value = float(size or 0)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit != "MB" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"


def duration(seconds: float | None) -> str:
    """A span of time as people read it: "—", "45 min", "3.5 h", "2.1 d"."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
