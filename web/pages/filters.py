"""Template filters the pages share: times as people read them, addresses that break
where people would break them."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

from desk.models.base import utcnow

Moment = datetime | str | None  # a datetime, or the ISO 8601 text the desk's dicts carry


def _moment(value: Moment) -> datetime | None:
    moment = datetime.fromisoformat(value) if isinstance(value, str) and value else value
    if not moment:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the desk stores UTC


def iso(value: Moment) -> str:
    """For `<time datetime=...>`: ISO 8601 with the offset (the pages' script localises it)."""
    moment = _moment(value)
    return moment.isoformat() if moment else ""


def age(value: Moment, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "just now", "5 min", "3 h", "2 d", "6 w"."""
    moment = _moment(value)
    if moment is None:
        return ""
    return _span(((now or utcnow()) - moment).total_seconds())


def _span(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "just now"


def ago(value: Moment, now: datetime | None = None) -> str:
    """`age` said as a time past: "just now", "5 min ago" (never "just now ago"); a time
    still to come is said as one: "in 5 min", "now"."""
    moment = _moment(value)
    if moment is not None and moment > (now or utcnow()):
        ahead = _span((moment - (now or utcnow())).total_seconds())
        return "now" if ahead == "just now" else f"in {ahead}"
    said = age(moment, now)
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


def sentence(value: object) -> str:
    """A message for a person as a sentence: capital first letter, closing full stop (the
    desk's messages are written for the API's JSON, "too many failed logins; try again
    later"; a page says "Too many failed logins; try again later.")."""
    text = str(value or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


def address_breaks(value: str | None) -> Markup:
    """An address with a line-break chance after its @ and each dot (`<wbr>`), so that a
    narrow column breaks `carol@example.com` as "carol@ / example.com", never "co / m";
    the text itself (copying, screen readers) is unchanged. Escaped first: the entities
    hold neither character."""
    text = escape(value or "")  # Markup: its replace() escapes any plain string it gets
    return text.replace("@", Markup("@<wbr>")).replace(".", Markup(".<wbr>"))
