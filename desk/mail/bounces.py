"""Is this mail a bounce, whose delivery failed, and which mail does it return? Delivery
status notifications (RFC 3464: multipart/report; report-type=delivery-status) are read
field by field; the other formats mail servers still send (Postfix without a report, qmail's
QSBMF, Exchange, Exim, ...) by flufl.bounce's detectors. Pure: desk/processing.py matches
the returned Message-IDs against our outbox."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from desk.mail.headers import is_plain_address, message_ids_in
from desk.mail.loops import SYSTEM_SENDERS

# The returned mail, whole or its headers only (RFC 6522 text/rfc822-headers; servers also
# write message/rfc822-headers; RFC 6533's global forms for internationalised mail).
_RETURNED = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)
_REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver|undelivered mail|delivery status notification|failure notice|"
    r"mail delivery (failed|failure|system)|returned mail|delivery failure|"
    r"non-?deliverable|delivery has failed|nicht zustellbar|unzustellbar|non remis)",
    re.IGNORECASE,
)
# Non-standard bounces quote the returned headers in their text.
_QUOTED_ID = re.compile(r"^\s*>?\s*message-id:\s*(<[^<>\s]{1,990}>)", re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MAX_TEXT = 200_000  # the text scanned for quoted ids and diagnostics


@dataclass(frozen=True)
class Failure:
    """One recipient the report says was not reached."""

    address: str
    status: str  # RFC 3463 enhanced code ("5.1.1"), "" when the report gives none
    diagnostic: str  # the receiving server's words (Diagnostic-Code or the text's line)
    permanent: bool  # False: delayed or temporary (4.x.x, Action: delayed)


@dataclass(frozen=True)
class Bounce:
    failures: tuple[Failure, ...]
    returned_ids: tuple[str, ...]  # Message-IDs of the mail it returns, best first
    reporter: str  # Reporting-MTA, or ""

    @property
    def permanent(self) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if f.permanent)


def may_be_bounce(content_type: str, from_address: str, return_path: str, subject: str) -> bool:
    """Cheap first look (no body read): a delivery report, a delivery system's sender, a null
    Return-Path or a bounce's subject. Only such mail is read as a bounce."""
    local = from_address.partition("@")[0].lower()
    return (
        content_type.lower() == "multipart/report"
        or local in SYSTEM_SENDERS
        or local.startswith("microsoftexchange")  # Exchange Online's NDR sender
        or return_path.replace(" ", "") == "<>"
        or bool(_BOUNCE_SUBJECT.match(subject))
    )


def read_bounce(raw: bytes) -> Bounce | None:
    """The bounce in `raw`, or None if it reports no failure and returns no mail. Never
    raises: a detector that trips on odd input counts as finding nothing."""
    message = email.message_from_bytes(raw)
    if _other_report(message):
        return None  # a read receipt (RFC 8098) or a feedback report: not a bounce
    report, reporter = _report_failures(message)
    failures = report or _detected_failures(message)
    ids = _returned_ids(message)
    if not failures and not ids:
        return None
    return Bounce(failures=tuple(failures), returned_ids=tuple(ids), reporter=reporter)


def _other_report(message: Message) -> bool:
    if message.get_content_type() != "multipart/report":
        return False
    kind = str(message.get_param("report-type", "") or "").lower()
    return kind not in ("delivery-status", "global-delivery-status")


def _report_failures(message: Message) -> tuple[list[Failure], str]:
    """RFC 3464 section 2.3: one block per recipient after the per-message block."""
    failures: list[Failure] = []
    reporter = ""
    for part in message.walk():
        if part.get_content_type() not in _REPORT_TYPES:
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, Message):
                continue
            reporter = reporter or _after_type(block.get("reporting-mta", ""))
            failure = _recipient_failure(block)
            if failure is not None:
                failures.append(failure)
    return failures, reporter[:255]


def _recipient_failure(block: Message) -> Failure | None:
    action = str(block.get("action", "")).strip().lower()
    if action not in ("failed", "delayed"):
        return None  # delivered, relayed, expanded: not a failure
    address = _after_type(block.get("final-recipient") or block.get("original-recipient") or "")
    address = address.strip("<> ").lower()
    if not is_plain_address(address):
        return None
    status = str(block.get("status", "")).strip()
    return Failure(
        address=address,
        status=status[:32],
        diagnostic=" ".join(_after_type(block.get("diagnostic-code", "")).split())[:500],
        permanent=action == "failed" and not status.startswith("4"),
    )


def _after_type(value: object) -> str:
    """`rfc822; a@b` -> `a@b` (RFC 3464 address-type and diagnostic-type prefixes)."""
    text = str(value)
    return text.partition(";")[2].strip() if ";" in text else text.strip()


def _detected_failures(message: Message) -> list[Failure]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # flufl.bounce's heuristics on hostile input: no finding, not a crash
        return []
    text = _text(message)
    found = [(a, True) for a in sorted(permanent)] + [(a, False) for a in sorted(temporary)]
    failures = []
    for raw_address, is_permanent in found:
        address = raw_address.decode("ascii", "replace").strip("<> ").lower()
        if is_plain_address(address):
            line = _line_about(text, address)
            status = _STATUS.search(line)
            failures.append(
                Failure(address, status.group(1) if status else "", line[:500], is_permanent)
            )
    return failures


def _line_about(text: str, address: str) -> str:
    """The text's words about `address`: its line and the two after it, where servers
    write the reason (Postfix: "said: 550 5.1.1 ..."; Exchange: "#5.1.1 smtp;550 ...")."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if address in line.lower():
            return " ".join(" ".join(lines[i : i + 3]).split())
    return ""


def _text(message: Message) -> str:
    chunks: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(chunks)[:_MAX_TEXT]


def _returned_ids(message: Message) -> list[str]:
    """The returned mail's Message-ID from its attached copy or headers, then any quoted
    in the text (qmail and older Exchange quote the headers inline)."""
    ids: list[str] = []
    for part in message.walk():
        if part.get_content_type() in _RETURNED:
            ids.extend(message_ids_in(str(_returned_headers(part).get("message-id", ""))))
    ids.extend(_QUOTED_ID.findall(_text(message)))
    return list(dict.fromkeys(ids))[:20]


def _returned_headers(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    return email.message_from_string(text)
