"""`postdesk inbound show` and `postdesk outbox list`: stored mail as an operator reads it.
Everything printed from a mail is escaped first: a header is the sender's text, and control
characters in it would drive the operator's terminal."""

from __future__ import annotations

import json
import re
from typing import Any

from desk.models import OutboxMail
from desk.outbox_admin import outbox_record

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """`text` with control characters as \\xNN escapes (line breaks of folded headers too)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", "\\n"))


def inbound_text(record: dict[str, Any]) -> str:
    """desk.inbound_admin.inbound_detail for a terminal: the fields, the headers, then what
    the mail became; the source only with --source (it can be megabytes)."""
    record = dict(record)
    headers = record.pop("headers")
    messages = record.pop("messages", [])
    record.pop("source_text", None)
    width = max(map(len, record))
    lines = [f"{key:<{width}}  {_plain(value)}" for key, value in record.items()]
    lines += ["", "headers:"]
    lines += [f"  {shown(name)}: {shown(value)}" for name, value in headers]
    for m in messages:
        lines += ["", f"became message {m['id']} on ticket {m['ticket_id']} ({m['kind']}):"]
        lines.append(f"  subject: {shown(m['subject'])}")
        lines.append(f"  rule: {shown(m['thread_rule'])}")
        for a in m["attachments"]:
            hurt = f"  DAMAGED: {shown(a['damage_reason'])}" if a["damaged"] else ""
            lines.append(f"  attachment: {shown(a['filename'])} ({a['size']} bytes){hurt}")
    return "\n".join(lines)


def outbox_text(row: OutboxMail) -> str:
    r = outbox_record(row)
    when = r["sent_at"] or r["next_attempt_at"]
    return (
        f"{r['id']:>7}  {r['state']:<7}  {r['kind']:<16}  {shown(r['recipient'])[:40]:<40}  "
        f"ticket {r['ticket_id'] or '-':<6}  tries {r['attempts']:<2}  {when}  "
        f"{shown(r['error'] or '')}"
    )


def as_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=True)  # escaped: safe on any terminal


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(shown(str(v)) for v in value) or "-"
    return shown(str(value))
