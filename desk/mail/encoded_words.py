"""RFC 2047 encoded words as mail clients read them, broken ones included: a multi-byte
character split over two words, base64 without its padding, a word with spaces inside or
without its closing `?=`, charsets under their aliases, bytes the declared charset does
not allow (read as desk.mail.charsets.decode reads mislabelled text: windows-1252, as the
clients do). A word whose base64 is not base64 (characters outside its alphabet, a length
no data has) is kept as the literal text it is: RFC 2047 6.3, "displayed as it is", not
guessed from what is left after skipping. Never raises."""

from __future__ import annotations

import binascii
import re

from desk.mail.charsets import INVALID_UTF8, decode

# Lenient like CPython's own header parser: spaces inside the encoded text are accepted.
_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?]*?)(?:\?=|$)")
_BETWEEN = re.compile(r"[ \t\r\n]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def decode_words(text: str, damage: list[str] | None = None) -> str:
    """`text` with every encoded word decoded; adjacent words of one charset are joined
    before decoding, as RFC 2047 6.2 drops the space between them. Words that are UTF-8
    with broken bytes (desk.mail.charsets.mostly_utf8) add what was replaced to `damage`."""
    out: list[str] = []
    position = 0
    pending: list[tuple[str, bytes]] = []
    for match in _WORD.finditer(text):
        gap = text[position : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:  # not decodable: the word as written, the gap before it kept
            out.extend((_flush(pending, damage), gap, match.group(0)))
            position = match.end()
            continue
        if not (pending and _BETWEEN.fullmatch(gap)):  # text between: the run ends
            out.append(_flush(pending, damage))
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 5: charset*language
        pending.append((charset.lower(), data))
        position = match.end()
    out.append(_flush(pending, damage))
    out.append(text[position:])
    return "".join(out)


def _word_bytes(encoding: str, encoded: str) -> bytes | None:
    """The word's bytes; None for base64 that is not (a character outside the alphabet,
    or one character too many for any data): RFC 2047 6.3 keeps such a word as written."""
    data = encoded.encode("ascii", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data.replace(b"_", b" "))
    compact = re.sub(rb"\s", b"", data)
    if not _BASE64.fullmatch(compact.decode("ascii")) or len(compact.rstrip(b"=")) % 4 == 1:
        return None
    return lenient_base64(compact)[0]


def lenient_base64(data: bytes) -> tuple[bytes, bool]:
    """Decoded bytes and whether the data was whole: characters outside the alphabet are
    skipped (as RFC 2045 6.8 says), and data cut short is decoded as far as it goes."""
    try:
        return binascii.a2b_base64(data), True
    except binascii.Error:
        pass
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    usable = len(clean) - len(clean) % 4
    tail = clean[usable:]
    decoded = binascii.a2b_base64(clean[:usable]) if usable else b""
    if len(tail) >= 2:  # two or three leftover characters still carry one or two bytes
        decoded += binascii.a2b_base64(tail + b"=" * (4 - len(tail)))
    return decoded, False


def _flush(pending: list[tuple[str, bytes]], damage: list[str] | None) -> str:
    """Decode the collected words, joining the bytes of neighbours in the same charset (a
    character split between them)."""
    parts: list[str] = []
    while pending:
        charset, data = pending.pop(0)
        while pending and pending[0][0] == charset:
            data += pending.pop(0)[1]
        text, note = decode(data, charset)
        if damage is not None and INVALID_UTF8 in note:
            damage.append(note)
        parts.append(text)
    return "".join(parts)
