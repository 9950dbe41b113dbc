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
# Everything up to the last folder separator (either kind), and leading dots and spaces.
_FOLDER_PART = re.compile(r"^.*[/\\]|^[.\s]+")


def clean_header_text(value: str, *, limit: int = 900, damage: list[str] | None = None) -> str:
    """A header value as it came, as text: its encoded words decoded once, then made safe
    (`header_text`).

    Once, as RFC 2047 says: what a word decodes to is text, even when it looks like an
    encoded word itself (`=?utf-8?q?Invoice_=3D=3Futf-8=3Fb=3FUEFJRA=3D=3D=3F=3D?=` reads
    "Invoice =?utf-8?b?UEFJRA==?=", never "Invoice PAID": decoding again would let a
    sender show one text and mean another). A word left unterminated (`=?utf-8?q?Caf=C3=A9
    broken`) is no encoded word and stays as written. Words that are UTF-8 with broken
    bytes add what was replaced to `damage`, if given.
    """
    text = _CONTROL.sub(" ", value)
    if _ENCODED_WORD.search(text):
        text = decode_words(text, damage)
    return header_text(text, limit=limit)


def header_text(text: str, *, limit: int = 900) -> str:
    """Text (decoded already: a stored subject, a name someone typed) made safe for a
    header we write: no control characters, runs of spaces as one, and text that only
    looks like encoded words kept as written, never decoded (that would be a second
    decode), unless CPython's header registry would read a control character out of it.

    The registry decodes encoded words when a value is set on a message, so such text
    could come back as CR/LF (CPython 3.11.7 lacks the CVE-2024-6923 fix): then the words
    go. The composer writes a subject with `=?` in it encoded (desk/mail/compose.py), so
    its recipient reads the same text.
    """
    text = _CONTROL.sub(" ", text)
    if _ENCODED_WORD.search(text):
        text = _unless_python_reads_controls(text)
    return " ".join(text.split())[:limit]


def _unless_python_reads_controls(text: str) -> str:
    """`text` with its encoded-word-like parts kept, unless CPython's header registry,
    which decodes leniently where we refuse (`=?utf-8?B?DQo!?=` is CR LF to it) and
    decodes what we keep as text, would read a control character out of them when the
    value is set on a message: then the words go."""
    try:
        read = str(policy.default.header_factory("subject", text))
    except Exception:  # the registry's parser raising: take no chances
        read = "\r"
    return _ENCODED_WORD.sub(" ", text) if _CONTROL.search(read) else text


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


def safe_filename(name: str, fallback: str = "attachment", *, encoded: bool = True) -> str:
    """A file name as a sender or uploader gave it, made safe to keep, show and mail: its
    last path component only (`/` and `\\` both), no control characters, no leading dots
    (so no `.` or `..`), at most 255 characters; `fallback` when nothing is left. One
    function for inbound mail (desk/mail/mime.py) and uploads (desk/uploads.py).
    `encoded=False`: a name already decoded (a stored one), whose encoded words are text."""
    text = clean_header_text(name, limit=255) if encoded else header_text(name, limit=255)
    return _FOLDER_PART.sub("", text).strip() or fallback
