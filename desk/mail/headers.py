"""Header values we write are ours to make safe: CPython 3.11.7 lacks the CVE-2024-6923 fix,
so a CR/LF in a subject or name, raw or RFC 2047-encoded, must never reach a header line."""

from __future__ import annotations

import email.header
import re

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Lenient like CPython's own header parser, which also decodes words with spaces inside.
_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
_MAX_DECODE_ROUNDS = 5


def clean_header_text(value: str, *, limit: int = 900) -> str:
    """Decode encoded words until none is left, then drop control characters.

    The header registry decodes encoded words when a value is set, so an encoded CR/LF
    would come back raw; decoding first (repeatedly, for nested encodings) and stripping
    afterwards leaves nothing that can turn into a line break.
    """
    text = value
    for _ in range(_MAX_DECODE_ROUNDS):
        text = _CONTROL.sub(" ", text)
        if not _ENCODED_WORD.search(text):
            break
        text = _decode_words(text)
    else:
        text = _ENCODED_WORD.sub(" ", _CONTROL.sub(" ", text))
    return " ".join(text.split())[:limit]


def _decode_words(text: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return _ENCODED_WORD.sub(" ", text)


_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+@[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+$")


def is_plain_address(address: str) -> bool:
    """True for a bare local@domain with nothing that could break out of an address header."""
    return bool(_ADDRESS.match(address)) and len(address) <= 320


def normalize_message_id(value: str) -> str | None:
    """`<id@host>` with surrounding space and CR/LF gone, or None if there is nothing usable."""
    value = _CONTROL.sub("", value).strip()
    if not value:
        return None
    if not value.startswith("<"):
        value = f"<{value}>"
    if not value.endswith(">"):
        value = f"{value}>"
    return value[:998] if len(value) > 2 else None


def message_ids_in(value: str | None) -> list[str]:
    """All `<...>` ids of an In-Reply-To or References value, in order."""
    if not value:
        return []
    ids = re.findall(r"<[^<>\s\x00-\x1f\x7f]{1,990}>", value)
    return ids[:100]
