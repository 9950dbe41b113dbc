"""A calendar invitation (RFC 5545 in a text/calendar part, RFC 6047) as one readable line
for the message text: what, when, where. The .ics itself is kept as an attachment."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from icalendar import Calendar

_METHODS = {"REQUEST": "Invitation", "CANCEL": "Cancelled", "REPLY": "Reply to invitation"}
_LINE = re.compile(r"^(SUMMARY|DTSTART|DTEND|LOCATION|METHOD)[;:](.*)$", re.M | re.I)


def summary_line(text: str) -> str:
    """`Invitation: Incident review, Thu 3 Dec 2026 14:00-14:30 (W. Europe Standard Time),
    at Teams`; "" when the part holds no event. Unreadable calendars (unknown time zones,
    broken lines) fall back to reading the lines themselves."""
    try:
        facts = _from_icalendar(text)
    except Exception:  # icalendar raises many kinds on broken input; the lines still read
        facts = _from_lines(text)
    if not facts.get("summary") and not facts.get("start"):
        return ""
    words = [f"{_METHODS.get(facts.get('method', '').upper(), 'Calendar event')}:"]
    words.append(facts.get("summary") or "(no title)")
    line = " ".join(words)
    if facts.get("start"):
        line += f", {facts['start']}"
        if facts.get("end"):
            line += f"\N{EN DASH}{facts['end']}"
        if facts.get("zone"):
            line += f" ({facts['zone']})"
    if facts.get("location"):
        line += f", at {facts['location']}"
    return " ".join(line.split())[:500]


def _from_icalendar(text: str) -> dict[str, str]:
    calendar = Calendar.from_ical(text)
    events = calendar.walk("VEVENT")
    if not events:
        return {}
    event = events[0]
    start, end = event.get("DTSTART"), event.get("DTEND")
    when = start.dt if start is not None else None
    facts = {
        "method": str(calendar.get("METHOD", "")),
        "summary": str(event.get("SUMMARY", "")),
        "location": str(event.get("LOCATION", "")),
        "start": _when(when),
        "end": _when(end.dt, same_day=when) if end is not None else "",
        "zone": str(start.params.get("TZID", "")) if start is not None else "",
    }
    if not facts["zone"] and isinstance(when, datetime) and when.tzinfo is not None:
        facts["zone"] = str(when.tzname() or "")
    return facts


def _when(value: Any, same_day: Any = None) -> str:
    if isinstance(value, datetime):
        if isinstance(same_day, datetime) and same_day.date() == value.date():
            return value.strftime("%H:%M")
        return f"{value:%a} {value.day} {value:%b %Y %H:%M}"
    if isinstance(value, date):
        return f"{value:%a} {value.day} {value:%b %Y}"
    return ""


def _from_lines(text: str) -> dict[str, str]:
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    facts: dict[str, str] = {}
    for name, rest in _LINE.findall(unfolded):
        key = {"dtstart": "start", "dtend": "end"}.get(name.lower(), name.lower())
        value = rest.split(":", 1)[-1] if ":" in rest else rest
        facts.setdefault(key, value.replace("\\,", ",").replace("\\n", " ").strip())
    return facts
