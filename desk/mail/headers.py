"""Header values we write are ours to make safe: CPython 3.11.7 lacks the CVE-2024-6923 fix,
so a CR/LF in a subject or name, raw or RFC 2047-encoded, must never reach a header line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email import policy
from email.utils import getaddresses

from desk.mail.encoded_words import decode_words

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Lenient like CPython's own header parser, which also decodes words with spaces inside.
_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
_MAX_DECODE_ROUNDS = 5
# Everything up to the last folder separator (either kind), and leading dots and spaces.
_FOLDER_PART = re.compile(r"^.*[/\\]|^[.\s]+")


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
        decoded = _decode_words(text)
        if decoded == text:  # words that do not decode, kept as written (RFC 2047 6.3)
            text = _unless_python_reads_controls(text)
            break
        text = decoded
    else:
        text = _ENCODED_WORD.sub(" ", _CONTROL.sub(" ", text))
    return " ".join(text.split())[:limit]


def _unless_python_reads_controls(text: str) -> str:
    """`text` with its undecodable encoded words kept, unless CPython's header registry,
    which decodes leniently where we refuse (`=?utf-8?B?DQo!?=` is CR LF to it), would
    read a control character out of them when the value is set on a message: then the
    words go."""
    try:
        read = str(policy.default.header_factory("subject", text))
    except Exception:  # the registry's parser raising: take no chances
        read = "\r"
    return _ENCODED_WORD.sub(" ", text) if _CONTROL.search(read) else text


def _decode_words(text: str) -> str:
    # Lenient (desk/mail/encoded_words.py): broken and split words read as clients read them.
    return decode_words(text)


_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+@[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+$")


def is_plain_address(address: str) -> bool:
    """True for a bare local@domain with nothing that could break out of an address header."""
    return bool(_ADDRESS.match(address)) and len(address) <= 320


# RFC 5322 3.6.4 msg-id: dot-atom-text "@" (dot-atom-text or a no-fold literal), in <>.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
_MSG_ID = re.compile(rf"<{_ATEXT}{{1,500}}@(?:{_ATEXT}{{1,490}}|\[[^\[\]\\\s<>]{{1,490}}\])>")


def normalize_message_id(value: str) -> str | None:
    """The first well-formed `<left@right>` id in `value` (one bare `left@right` is given
    its brackets), or None: a value with no usable id never becomes one of ours."""
    value = _CONTROL.sub("", value).strip()
    if value and "<" not in value:
        value = f"<{value}>"
    match = _MSG_ID.search(value)
    return match.group(0) if match else None


def message_ids_in(value: str | None) -> list[str]:
    """The well-formed ids of an In-Reply-To or References value, in order (at most 100);
    anything else in it is dropped, so it never reaches a header we write."""
    if not value:
        return []
    return _MSG_ID.findall(_CONTROL.sub("", value))[:100]


_MASKABLE_WORD = re.compile(r'=\?[^?\s"\\]+\?[bBqQ]\?[^?\s"\\]*\?=')
_MASK = re.compile(r"PDWORD(\d+)PDWORD")


def addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of address headers as they came (names still
    RFC 2047-encoded). Encoded words are hidden from the address parser first: an encoded
    name may carry `:` and `@` (`=?utf-8?q?Eve=0D=0ABcc:_victim@x?= <eve@y>`), which
    email.utils.getaddresses would read as a group and an address of their own."""
    return [pair for value in values for pair in _addresses_of(value)]


def _addresses_of(value: str) -> list[tuple[str, str]]:
    words = _MASKABLE_WORD.findall(value)
    masked = _MASKABLE_WORD.sub(_Counter().placeholder, value)
    return [
        (_MASK.sub(lambda m: words[int(m.group(1))], name), address)
        for name, address in getaddresses([masked])
    ]


class _Counter:
    """Numbers the hidden encoded words in the order re.sub meets them (as findall does)."""

    def __init__(self) -> None:
        self.seen = 0

    def placeholder(self, _match: re.Match[str]) -> str:
        self.seen += 1
        return f'"PDWORD{self.seen - 1}PDWORD"'


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A file name as a sender or uploader gave it, made safe to keep, show and mail: its
    last path component only (`/` and `\\` both), no control characters, no leading dots
    (so no `.` or `..`), at most 255 characters; `fallback` when nothing is left. One
    function for inbound mail (desk/mail/mime.py) and uploads (desk/uploads.py)."""
    return _FOLDER_PART.sub("", clean_header_text(name, limit=255)).strip() or fallback
