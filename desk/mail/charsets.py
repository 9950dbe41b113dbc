"""Bytes of a MIME part or header to text, the way mail clients read them: a declared
charset under its real-world aliases (read as the superset clients use), undeclared 8-bit
text as UTF-8, then by detection, then windows-1252. Never raises; never loses a byte
silently (what does not fit becomes U+FFFD)."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# Labels mail software writes, to the codec that reads what it really sends: the Microsoft
# and GB supersets (WHATWG Encoding Standard's mapping, which mail clients follow too).
ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "iso-8859-9": "cp1254",
    "iso-8859-8-i": "iso8859-8",
    "x-mac-roman": "mac-roman",
    "cp-850": "cp850",
}
# Labels that say nothing about the bytes: read them as undeclared.
UNDECLARED = {"", "us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "x-unknown", "default"}
# Codecs that are not character sets (or transform text): never taken from a mail.
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
_DETECT_BYTES = 32 * 1024
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I
)


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """windows-1252 leaves five bytes undefined; browsers and mail clients show them as the
    C1 controls ISO-8859-1 has there (WHATWG), so nothing is lost."""
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start : error.end]
    return bytes(chunk).decode("latin-1"), error.end


codecs.register_error("postdesk-latin1", _latin1_fallback)


def codec_for(label: str | None) -> str | None:
    """The Python codec that reads `label`, or None when the label is unknown, empty or
    says nothing (us-ascii: 8-bit bytes under it are undeclared text in practice)."""
    name = (label or "").strip().strip("\"'").lower()
    if name in UNDECLARED:
        return None
    name = ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return ALIASES.get(info.name, info.name)


UNKNOWN_CHARSET = "unknown charset"  # how decode's note begins when the label is unknown
# In every note about text read as UTF-8 with broken bytes replaced: the text is damaged.
INVALID_UTF8 = "invalid byte sequence"


def decode(data: bytes, label: str | None = None, *, html: bool = False) -> tuple[str, str]:
    """Text of `data` and, when the declared charset did not fit, a note saying what was
    done instead ("" when it read cleanly). ISO-2022-JP is read with the cp932 (NEC/IBM)
    extensions Japanese Windows mail uses. Text that is almost all UTF-8 (`mostly_utf8`)
    is UTF-8 with its broken bytes replaced, and the note says how many (INVALID_UTF8)."""
    codec = codec_for(label)
    if codec and codec.startswith("iso2022_jp"):
        return decode_iso2022jp(data), ""
    if codec:
        try:
            return _strict(data, codec), ""
        except UnicodeDecodeError:
            text, used = undeclared(data, html=html)
            if codec == "utf-8" and used.startswith("UTF-8"):
                return text, f"text declared as utf-8 is {used}"
            return text, f"text declared as {label} was not; read as {used}"
    if label and label.strip().lower() not in UNDECLARED:
        text, used = undeclared(data, html=html)
        return text, f"{UNKNOWN_CHARSET} {label[:40]!r}; read as {used}"
    text, used = undeclared(data, html=html)
    return text, (f"text is {used}" if INVALID_UTF8 in used else "")


# Almost all UTF-8: at least this many valid multi-byte sequences for each broken one.
_VALID_PER_BROKEN = 2
_NON_ASCII = re.compile("[^\x00-\x7f]")


def mostly_utf8(data: bytes) -> tuple[str, int] | None:
    """`data` read as UTF-8 with each broken sequence replaced by U+FFFD, and how many were
    broken, when it is UTF-8 with a few bad bytes rather than legacy 8-bit text; else None.

    The rule: at least two valid multi-byte UTF-8 sequences for every broken one (a stray
    byte, a character cut short: each maximal invalid run counts once, as U+FFFD does).
    Legacy text almost never holds a valid multi-byte sequence: a windows-1252 letter is
    one invalid byte (`caf\xe9`: none valid, one broken), and in CJK or Cyrillic legacy
    text a lead and trail byte that happen to form one (EUC-KR `\xc8\xb3`) are far fewer
    than the bytes that break (about one in ten). A Japanese body with one stray `\xff`
    has dozens valid and one broken."""
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")  # a real U+FFFD is valid
    valid = len(_NON_ASCII.findall(text)) - broken
    if broken <= 0 or valid < _VALID_PER_BROKEN * broken:
        return None
    return text, broken


def _broken_utf8(broken: int) -> str:
    return f"UTF-8 with {broken} {INVALID_UTF8}{'s' if broken > 1 else ''} replaced (U+FFFD)"


def _strict(data: bytes, codec: str) -> str:
    if codec == "windows-1252" or codec == "cp1252":
        return data.decode("cp1252", "postdesk-latin1")
    return data.decode(codec)


def undeclared(data: bytes, *, html: bool = False) -> tuple[str, str]:
    """Text with no (usable) charset: ASCII or UTF-8 as is; an HTML part's own <meta>
    charset; then detection, preferring windows-1252 when it reads as cleanly as the best
    guess (short Western text is ambiguous, and it is what clients assume); else
    windows-1252. Text that is almost all UTF-8 (`mostly_utf8`) is UTF-8 with its broken
    bytes replaced: then what is returned for the codec says so (INVALID_UTF8). Returns
    the text and the codec used."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if (utf8 := mostly_utf8(data)) is not None:
        return utf8[0], _broken_utf8(utf8[1])
    if html and (meta := _META_CHARSET.search(data[:4096])):
        codec = codec_for(meta.group(1).decode("ascii"))
        if codec and not codec.startswith("utf"):
            try:
                return _strict(data, codec), codec
            except UnicodeDecodeError:
                pass
    codec = _detected(data[:_DETECT_BYTES])
    try:
        return _strict(data, codec), codec
    except UnicodeDecodeError:  # detection saw only the start
        return data.decode("cp1252", "postdesk-latin1"), "windows-1252"


def _detected(sample: bytes) -> str:
    """charset-normalizer's guess when it is believable: a language it recognises, or text
    that reads as CJK (its coherence says nothing there); else windows-1252."""
    if sum(b >= 0x80 for b in sample) < _MIN_HIGH_BYTES:
        return "windows-1252"  # a few accented letters: any guess reads them as something
    # Without a byte order mark, UTF-16/32 guesses on mail text are noise.
    matches = [m for m in from_bytes(sample) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        return "windows-1252"
    best = matches[0]
    if any(m.encoding == "cp1252" and m.chaos <= best.chaos for m in matches):
        return "windows-1252"
    if best.coherence >= _MIN_COHERENCE or _reads_as_cjk(str(best)):
        return str(best.encoding)
    return "windows-1252"


_MIN_COHERENCE = 0.3
# Fewer 8-bit bytes than three CJK characters take: too little for any guess to believe
# (b"weird body \xe9\xe8" is one Big5 character to charset-normalizer, "éè" to a client).
_MIN_HIGH_BYTES = 6
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff01-\uff5e\u3000-\u303f]")


def _reads_as_cjk(text: str) -> bool:
    wide = [c for c in text if ord(c) > 0x7F]
    return bool(wide) and sum(1 for c in wide if _CJK.match(c)) >= 0.8 * len(wide)


def from_8bit_header(value: str, hint: str | None = None, damage: list[str] | None = None) -> str:
    """A header value the parser read with raw 8-bit bytes (surrogate-escaped) as text:
    UTF-8 (almost all UTF-8 too, its broken bytes replaced: `mostly_utf8`), the message's
    own charset, then windows-1252. What was replaced is added to `damage`, if given."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if (utf8 := mostly_utf8(data)) is not None:
        if damage is not None:
            damage.append(_broken_utf8(utf8[1]))
        return utf8[0]
    codec = codec_for(hint)
    if codec:
        try:
            return _strict(data, codec)
        except UnicodeDecodeError:
            pass
    return data.decode("cp1252", "postdesk-latin1")


# -- ISO-2022-JP as Windows reads it ---------------------------------------------------------

_ESCAPE = re.compile(rb"\x1b(\$[@B]|\$\(D|\([BJI])")


def decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP (RFC 1468) with what Japanese mail really carries: the NEC and IBM
    extensions of cp932 inside `ESC $ B` (circled numbers, ㈱), half-width katakana after
    `ESC ( I` or SO/SI (CP50221/50222). Each JIS X 0208 pair is moved to Shift_JIS and read
    as cp932; the strict codec is tried first so standard text maps exactly as before."""
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    mode = b"(B"
    position = 0
    for match in _ESCAPE.finditer(data):
        out.append(_jis_run(data[position : match.start()], mode))
        mode, position = match.group(1), match.end()
    out.append(_jis_run(data[position:], mode))
    return "".join(out)


def _jis_run(chunk: bytes, mode: bytes) -> str:
    if mode in (b"$@", b"$B"):
        return _jis_to_sjis(chunk).decode("cp932", "replace")
    if mode == b"(I":
        return bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in chunk).decode("cp932", "replace")
    if mode == b"$(D":
        return chunk.decode("iso2022_jp_2", "replace")
    text = chunk.decode("latin-1")
    if "\x0e" in text:  # SO ... SI: half-width katakana as 7-bit bytes (CP50222)
        text = re.sub(
            "\x0e([^\x0f]*)\x0f?",
            lambda m: _jis_run(m.group(1).encode("latin-1"), b"(I"),
            text,
        )
    return "".join(c if ord(c) < 0x80 else "\ufffd" for c in text)


def _jis_to_sjis(chunk: bytes) -> bytes:
    """JIS X 0208 row/cell pairs to Shift_JIS; a line end inside the run (mail that forgot
    to switch back to ASCII) stays a line end, an odd byte becomes `?`."""
    out = bytearray()
    pending: int | None = None
    for byte in chunk:
        if byte in (0x0A, 0x0D):
            out += b"?" if pending is not None else b""
            out.append(byte)
            pending = None
        elif pending is None:
            pending = byte
        else:
            out += _sjis_pair(pending, byte)
            pending = None
    if pending is not None:
        out += b"?"
    return bytes(out)


def _sjis_pair(j1: int, j2: int) -> bytes:
    if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
        return b"?"
    s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
    if j1 % 2:
        s2 = j2 + (0x1F if j2 <= 0x5F else 0x20)
    else:
        s2 = j2 + 0x7E
    return bytes((s1, s2))
