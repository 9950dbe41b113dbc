"""Raw RFC 5322 bytes to the facts intake needs, within Postfix-like limits, read leniently
as mail clients read mail (desk/mail/mime.py walks the parts). Runs off the event loop (in
a worker process) because CPython's email package has slow inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol

from desk.mail import quotes
from desk.mail.charsets import from_8bit_header
from desk.mail.headers import addresses, clean_header_text, is_plain_address, message_ids_in
from desk.mail.headers import normalize_message_id as _norm_id
from desk.mail.html_text import MAX_HTML_DEPTH, html_to_text, sanitize, too_deep
from desk.mail.mime import PARSER, Part, Walked, content_type, raw_headers, walk
from desk.mail.unreadable import count_mime_parts

__all__ = [
    "Limits",
    "MailRejected",
    "ParsedMail",
    "Part",
    "addressees",
    "cut_subject",
    "parse_limits",
    "parse_mail",
    "with_notes",
]

from desk.mail.loops import LOOP_HEADERS as _LOOP_HEADERS

SUBJECT_LIMIT = 250  # characters; longer subjects are cut at a word with an ellipsis
_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to")


class MailRejected(Exception):
    """The mail breaks a limit or cannot be parsed: it becomes a ticket with the raw message
    attached and this reason as a note (desk/mail/prepare.py)."""


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 100 * 1024
    max_mime_depth: int = 100
    max_addresses_per_header: int = 10_000
    cpu_seconds: float = 10.0
    max_mime_parts: int = 1000


class LimitSettings(Protocol):
    """What parse_limits reads of desk.config.Settings (desk.mail imports no settings: they
    know the database)."""

    @property
    def parse_cpu_seconds(self) -> float: ...

    @property
    def max_mime_parts(self) -> int: ...


def parse_limits(settings: LimitSettings) -> Limits:
    """The limits the settings choose (the rest are Postfix's, fixed)."""
    return Limits(cpu_seconds=settings.parse_cpu_seconds, max_mime_parts=settings.max_mime_parts)


@dataclass
class ParsedMail:
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    from_address: str | None
    from_name: str
    recipients: list[str]  # To, Cc, Delivered-To and X-Original-To addresses
    subject: str
    content_type: str
    loop_headers: dict[str, str]
    text: str  # the sender's text, then the notes (each in brackets)
    new_text: str
    html: str  # sanitized
    parts: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the agent should know about it
    unreadable: str = ""  # why the mail could not be read (then its raw form is attached)
    # Why part of the sender's text did not decode (kept as far as it did): the mail is
    # damaged, as it is when an attachment is (issue 15), and this is the reason.
    damage: str = ""
    # The To and Cc headers as (name, address) pairs, plain addresses only: who else the
    # mail went to, so replies can go to them too (ticket participants).
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    # The Reply-To header's plain addresses as (name, address) pairs: where the sender
    # asks replies to go (RFC 5322 3.6.2; desk/processing.py decides whether to).
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    # The well-formed ids of further Message-ID headers (a mail tool added its own): a
    # reply may answer any of them, so they thread too; `message_id` stays the first.
    other_message_ids: list[str] = field(default_factory=list)


def parse_mail(raw: bytes, limits: Limits) -> ParsedMail:
    """Raises MailRejected (with the reason) for a mail over a limit; anything else in a
    mail is read as far as it goes."""
    _check_header_block(raw, limits)
    parts = count_mime_parts(raw, limits.max_mime_parts)
    if parts > limits.max_mime_parts:
        raise MailRejected(
            f"the mail has {parts} MIME parts, over the limit of {limits.max_mime_parts}"
        )
    message = PARSER.parsebytes(raw)
    _check_depth(message, limits)
    _check_address_counts(message, limits)
    walked = walk(message, limits.max_mime_depth)
    hint = walked.charset
    subject = _subject(message, hint, walked)
    from_name, from_address = _first_address(_headers(message, "from", hint))
    message_ids = _valid_ids(raw_headers(message, "message-id"))
    return ParsedMail(
        message_id=message_ids[0] if message_ids else None,
        other_message_ids=message_ids[1:],
        in_reply_to=message_ids_in(_header(message, "in-reply-to")),
        references=message_ids_in(_header(message, "references")),
        from_address=from_address,
        from_name=clean_header_text(from_name, limit=200),
        recipients=_recipients(message, hint),
        to=_people(message, "to", hint),
        cc=_people(message, "cc", hint),
        reply_to=_people(message, "reply-to", hint),
        subject=subject,
        content_type=content_type(message),
        loop_headers={n: _header(message, n) for n in _LOOP_HEADERS if raw_headers(message, n)},
        defects=walked.defects,
        notes=walked.notes,
        damage="; ".join(walked.damage),
        parts=walked.parts,
        **_bodies(walked),
    )


def _subject(message: Message, hint: str | None, walked: Walked) -> str:
    """The subject as text; when it was UTF-8 with broken bytes (replaced), the mail is
    damaged, as for the text, and a note says so."""
    damage: list[str] = []
    raw = [from_8bit_header(v, hint, damage) for v in raw_headers(message, "subject")[:1]]
    subject = cut_subject(clean_header_text(raw[0] if raw else "", damage=damage))
    if damage:
        reason = "; ".join(dict.fromkeys(damage))
        walked.notes.append(f"Part of the subject could not be decoded ({reason})")
        walked.damage.append(f"subject: {reason}")
    return subject


def _bodies(walked: Walked) -> dict[str, str]:
    """text, new_text and html: the plain text, or the HTML's text when there is none (or
    a TNEF body when the mail carried only that); the notes after both texts."""
    html = "\n".join(walked.html) or "\n".join(walked.wrapped_html)
    if too_deep(html):
        raise MailRejected(f"HTML nested deeper than {MAX_HTML_DEPTH} elements")
    clean_html = sanitize(html) if html.strip() else ""
    text = "\n\n".join(walked.plain).replace("\r\n", "\n")
    if not text.strip():
        text = html_to_text(clean_html) if clean_html else "\n\n".join(walked.wrapped_text)
    text = text.replace("\r\n", "\n")
    new_text = _new_text(text)
    return {
        "text": _storable(with_notes(text, walked.notes)),
        "new_text": _storable(with_notes(new_text, walked.notes)),
        "html": _storable(clean_html),
    }


def with_notes(text: str, notes: list[str]) -> str:
    """The notes under the text, each on a line of its own in brackets."""
    shown = "\n".join(f"[{note}]" for note in notes)
    return "\n\n".join(t for t in (text.strip(), shown) if t)


def cut_subject(subject: str, limit: int = SUBJECT_LIMIT) -> str:
    """At most `limit` characters: cut at the last word boundary before it, with `…`."""
    if len(subject) <= limit:
        return subject
    cut = subject[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL; mail can. Keep it visible as U+FFFD instead."""
    return text.replace("\x00", "\ufffd")


def _check_header_block(raw: bytes, limits: Limits) -> None:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    size = min(ends) if ends else len(raw)
    if size > limits.max_header_bytes:
        raise MailRejected(
            f"header block is {size} bytes, over the {limits.max_header_bytes}-byte limit"
        )


def _check_depth(message: Message, limits: Limits) -> None:
    stack: list[tuple[Message, int]] = [(message, 1)]
    while stack:
        part, depth = stack.pop()
        if depth > limits.max_mime_depth:
            raise MailRejected(f"MIME nesting deeper than {limits.max_mime_depth}")
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


def _check_address_counts(message: Message, limits: Limits) -> None:
    for name in ("from", "to", "cc", "bcc", "reply-to", "sender"):
        for value in message.get_all(name) or []:
            if str(value).count("@") > limits.max_addresses_per_header:
                raise MailRejected(
                    f"{name} header has more than {limits.max_addresses_per_header} addresses"
                )


def _header(message: Message, name: str, hint: str | None = None) -> str:
    values = _headers(message, name, hint)
    return values[0] if values else ""


def _headers(message: Message, name: str, hint: str | None) -> list[str]:
    return [from_8bit_header(v, hint) for v in raw_headers(message, name)]


def _valid_ids(values: Sequence[object]) -> list[str]:
    """The well-formed ids of the Message-ID headers, in order, each once (several headers:
    a mail tool added its own; the first is the mail's id)."""
    found = (_norm_id(str(value)) for value in values)
    return list(dict.fromkeys(i for i in found if i))


def _first_address(values: list[str]) -> tuple[str, str | None]:
    for name, address in addresses(values):
        address = address.strip().lower()
        if is_plain_address(address):
            return name or "", address
    return "", None


def _recipients(message: Message, hint: str | None) -> list[str]:
    found: list[str] = []
    for name in _RECIPIENT_HEADERS:
        values = _headers(message, name, hint)
        found.extend(a.strip().lower() for _, a in addresses(values))
    return [a for a in found if is_plain_address(a)][:1000]


def _people(message: Message, name: str, hint: str | None) -> list[tuple[str, str]]:
    """(name, address) of each plain address in the To, Cc or Reply-To headers, at most
    100."""
    found: list[tuple[str, str]] = []
    for display, address in addresses(_headers(message, name, hint)):
        address = address.strip().lower()
        if is_plain_address(address):
            found.append((clean_header_text(display, limit=200), address))
    return found[:100]


def addressees(head: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Who a stored mail was addressed to, To and Cc, as (name, address) pairs, read as
    intake reads them (`_people`), from the start of the raw mail: its header block is
    enough (a cut body does not matter), so a conversation page need not read whole mails."""
    message = PARSER.parsebytes(head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0] + b"\n\n")
    return _people(message, "to", None), _people(message, "cc", None)


def _new_text(text: str) -> str:
    return quotes.new_text(text)
