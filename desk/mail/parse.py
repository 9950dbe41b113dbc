"""Raw RFC 5322 bytes to the facts intake needs, within Postfix-like limits. Runs off the
event loop (in a worker process) because CPython's email package has slow inputs."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from email.message import Message

import mailparser
import nh3
from mailparser.exceptions import MailParserError
from mailparser_reply import EmailReplyParser

from desk.mail.headers import clean_header_text, is_plain_address, message_ids_in
from desk.mail.headers import normalize_message_id as _norm_id

REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "cs", "da"]
_REPLY_PARSER = EmailReplyParser(languages=REPLY_LANGUAGES)
_REPLY_INPUT_LIMIT = 100_000  # reply detection is regex-heavy; quoted history beyond is moot
_LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
)
_HTML_SCHEMES = {"http", "https", "mailto", "cid"}


class MailRejected(Exception):
    """The mail breaks a limit or cannot be parsed; it is kept as failed with this reason."""


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 100 * 1024
    max_mime_depth: int = 100
    max_addresses_per_header: int = 10_000
    cpu_seconds: float = 10.0


@dataclass
class Part:
    filename: str
    content_type: str
    content_id: str
    is_inline: bool
    data: bytes


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
    text: str
    new_text: str
    html: str  # sanitized
    parts: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    # The To and Cc headers as (name, address) pairs, plain addresses only: who else the
    # mail went to, so replies can go to them too (ticket participants).
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)


def parse_mail(raw: bytes, limits: Limits) -> ParsedMail:
    _check_header_block(raw, limits)
    try:
        mail = mailparser.parse_from_bytes(raw)
    except (MailParserError, RecursionError) as exc:
        raise MailRejected(f"unparseable MIME structure: {exc}") from exc
    message: Message = mail.message
    _check_depth(message, limits)
    _check_address_counts(message, limits)
    text, clean_html = (_storable(t) for t in _bodies(mail))
    from_name, from_address = _first_address(mail.from_)
    return ParsedMail(
        message_id=_norm_id(str(mail.message_id or "")),
        in_reply_to=message_ids_in(_header(message, "in-reply-to")),
        references=message_ids_in(_header(message, "references")),
        from_address=from_address,
        from_name=clean_header_text(from_name, limit=200),
        recipients=_recipients(mail),
        subject=clean_header_text(str(mail.subject or "")),
        content_type=message.get_content_type(),
        loop_headers={n: _header(message, n) for n in _LOOP_HEADERS if message.get(n) is not None},
        text=text,
        new_text=_storable(_new_text(text)),
        html=clean_html,
        parts=[_part(a) for a in mail.attachments],
        defects=[str(d) for d in mail.defects_categories],
        to=_people(mail.to),
        cc=_people(mail.cc),
    )


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
        if part.is_multipart():
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


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return "" if value is None else str(value)


def _first_address(pairs: list[tuple[str, str]]) -> tuple[str, str | None]:
    for name, address in pairs or []:
        address = address.strip().lower()
        if is_plain_address(address):
            return name or "", address
    return "", None


def _recipients(mail: mailparser.MailParser) -> list[str]:
    found: list[str] = []
    for pairs in (mail.to, mail.cc, mail.delivered_to, mail.x_original_to):
        if isinstance(pairs, list):
            found.extend(a.strip().lower() for _, a in pairs if isinstance(a, str))
        elif isinstance(pairs, str) and pairs:
            found.extend(p.strip(" <>").lower() for p in pairs.split(","))
    return [a for a in found if is_plain_address(a)][:1000]


def _people(pairs: object) -> list[tuple[str, str]]:
    """(name, address) of each plain address in a parsed To or Cc header, at most 100."""
    if not isinstance(pairs, list):
        return []
    found: list[tuple[str, str]] = []
    for pair in pairs:
        name, address = pair if isinstance(pair, tuple) and len(pair) == 2 else ("", "")
        address = str(address).strip().lower()
        if is_plain_address(address):
            found.append((clean_header_text(str(name or ""), limit=200), address))
    return found[:100]


def _bodies(mail: mailparser.MailParser) -> tuple[str, str]:
    raw_html = "\n".join(mail.text_html)
    clean_html = nh3.clean(raw_html, url_schemes=_HTML_SCHEMES) if raw_html else ""
    text = "\n\n".join(mail.text_plain)
    if not text.strip() and raw_html:
        text = html.unescape(nh3.clean(raw_html, tags=set()))
    return text.replace("\r\n", "\n"), clean_html


def _new_text(text: str) -> str:
    if not text.strip():
        return ""
    try:
        reply = _REPLY_PARSER.parse_reply(text[:_REPLY_INPUT_LIMIT])
    except Exception:  # a reply-parser bug must not fail the mail: keep the full text
        return text.strip()
    return (reply or text).strip()


def _part(attachment: dict[str, object]) -> Part:
    payload = attachment.get("payload") or ""
    if attachment.get("binary"):
        data = base64.b64decode(str(payload))
    else:
        data = str(payload).encode("utf-8", "surrogateescape")
    disposition = str(attachment.get("content-disposition") or "").lower()
    content_id = str(attachment.get("content-id") or "").strip()
    name = str(attachment.get("safe_filename") or attachment.get("filename") or "")
    return Part(
        filename=clean_header_text(name, limit=255) or "attachment",
        content_type=clean_header_text(str(attachment.get("mail_content_type") or ""), limit=255)
        or "application/octet-stream",
        content_id=clean_header_text(content_id, limit=998),
        is_inline=disposition.startswith("inline") or (bool(content_id) and not disposition),
        data=data,
    )
