"""What is known of a mail that cannot be parsed, or should not be (over a limit): its
subject, sender and ids read from the raw header lines by a cheap scan that cannot stall,
and how many MIME parts it has, counted before the expensive parse."""

from __future__ import annotations

import re
from email.utils import parseaddr

from desk.mail.charsets import from_8bit_header
from desk.mail.headers import clean_header_text, is_plain_address, message_ids_in
from desk.mail.headers import normalize_message_id as _norm_id

SCAN_BYTES = 64 * 1024  # of the header block: enough for the headers that matter
_VALUE_LIMIT = 4000
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_DELIMITER = re.compile(rb"^--([^\r\n]{1,70})", re.M)
_BOUNDARY = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]{1,70})"|([^\s;"]{1,70}))""", re.I)


def count_mime_parts(raw: bytes, limit: int) -> int:
    """Body parts of every multipart in the mail, counted from the delimiter lines of the
    boundaries it declares (RFC 2046 5.1.1): one regex pass, no parsing. More distinct
    boundaries than `limit` is over the limit already."""
    boundaries = {m.group(1) or m.group(2) for m in _BOUNDARY.finditer(raw)}
    if len(boundaries) > limit:
        return len(boundaries)
    count = 0
    for match in _DELIMITER.finditer(raw):
        line = match.group(1).rstrip(b" \t")
        if line in boundaries:  # a closing delimiter (`--b--`) starts no part
            count += 1
    return count


def header_lines(raw: bytes) -> dict[str, str]:
    """The first value of each header in the first SCAN_BYTES, unfolded, as text."""
    end = _HEADER_END.search(raw, 0, SCAN_BYTES)
    block = raw[: end.start() if end else SCAN_BYTES].decode("utf-8", "surrogateescape")
    found: dict[str, str] = {}
    for line in re.sub(r"\r?\n[ \t]+", " ", block).splitlines():
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if colon and name and " " not in name and name not in found:
            found[name] = from_8bit_header(value.strip()[:_VALUE_LIMIT])
    return found


def sender_of(headers: dict[str, str]) -> tuple[str, str | None]:
    """(display name, address) of the From header, as far as it reads."""
    name, address = parseaddr(headers.get("from", "")[:2000])
    address = address.strip().lower()
    return clean_header_text(name, limit=200), address if is_plain_address(address) else None


def ids_of(headers: dict[str, str]) -> tuple[str | None, list[str], list[str]]:
    """Message-ID, In-Reply-To and References, well-formed ids only."""
    return (
        _norm_id(headers.get("message-id", "")),
        message_ids_in(headers.get("in-reply-to")),
        message_ids_in(headers.get("references")),
    )
