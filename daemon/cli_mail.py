"""`postdesk inbound show` and `postdesk outbox list`: stored mail as an operator reads it.
Everything printed from a mail is escaped first: a header is the sender's text, and control
characters in it would drive the operator's terminal."""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from desk.models import InboundMail, OutboxMail

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """`text` with control characters as \\xNN escapes (line breaks of folded headers too)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", "\\n"))


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """The header fields as written (compat32 reads without decoding or raising)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [(name, str(value)) for name, value in message.items()]


def inbound_record(row: InboundMail) -> dict[str, Any]:
    """What `inbound show --json` prints: the stored mail's envelope, its processing and
    its headers (not its body)."""
    return {
        "id": row.id,
        "state": row.state,
        "error": row.error,
        "ticket_id": row.ticket_id,
        "thread_rule": row.thread_rule,
        "message_id": row.message_id,
        "sender": row.sender,
        "source": row.source,
        "mail_from": row.mail_from,
        "rcpt_tos": list(row.rcpt_tos),
        "size": len(row.raw),
        "received_at": _time(row.received_at),
        "processed_at": _time(row.processed_at),
        "attempts": row.attempts,
        "headers": [[name, value] for name, value in header_lines(row.raw)],
    }


def inbound_text(row: InboundMail) -> str:
    record = inbound_record(row)
    headers = record.pop("headers")
    width = max(map(len, record))
    lines = [f"{key:<{width}}  {_plain(value)}" for key, value in record.items()]
    lines += ["", "headers:"]
    lines += [f"  {shown(name)}: {shown(value)}" for name, value in headers]
    return "\n".join(lines)


def outbox_record(row: OutboxMail) -> dict[str, Any]:
    """One outbox row as `outbox list --json` prints it; `pending` is shown as `queued`."""
    return {
        "id": row.id,
        "state": "queued" if row.state == "pending" else row.state,
        "kind": row.kind,
        "recipient": row.recipient,
        "ticket_id": row.ticket_id,
        "attempts": row.attempts,
        "created_at": _time(row.created_at),
        "next_attempt_at": _time(row.next_attempt_at),
        "sent_at": _time(row.sent_at),
        "error": row.last_error,
    }


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


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
