"""The MIME tree of one mail, walked the way a mail client shows it: the text and HTML the
sender wrote, the files they attached (winmail.dat unpacked, a forwarded message kept whole
with its files listed under it, an invitation as .ics and a summary line, opaque-signed
S/MIME unwrapped), and for each part that does not decode, why. Nothing here raises on bad
input: a part is kept as far as it decodes."""

from __future__ import annotations

import binascii
import io
import mimetypes
import re
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from desk.mail import smime
from desk.mail.charsets import INVALID_UTF8, UNKNOWN_CHARSET, decode, from_8bit_header
from desk.mail.encoded_words import lenient_base64
from desk.mail.headers import clean_header_text, safe_filename
from desk.mail.invites import summary_line
from desk.mail.winmail import is_tnef, unpack

# The parser for every mail and every part inside one. compat32 reads header values as
# they came (no header registry): policy.default's structured headers cost three times the
# parse and had quadratic inputs; the feedparser records defects the same way under both.
PARSER = BytesParser(policy=compat32)
_BODY_TYPES = ("text/plain", "text/html")
_SMIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_CALENDAR_TYPES = ("text/calendar", "application/ics")
_UUENCODE = ("x-uuencode", "uuencode", "x-uue", "uue")
_PLAIN_ENCODINGS = ("", "7bit", "8bit", "binary")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=\s]")


@dataclass
class Part:
    filename: str
    content_type: str
    content_id: str
    is_inline: bool
    data: bytes
    damaged: bool = False
    damage_reason: str = ""
    forwarded_in: int | None = None  # index (in the mail's parts) of the .eml it came in


@dataclass
class Walked:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown to the agent with the text
    damage: list[str] = field(default_factory=list)  # why the sender's text is incomplete
    defects: list[str] = field(default_factory=list)
    charset: str | None = None  # the first declared: a hint for raw 8-bit headers
    wrapped_text: list[str] = field(default_factory=list)  # a TNEF body, if nothing else
    wrapped_html: list[str] = field(default_factory=list)


def walk(message: Message, max_depth: int) -> Walked:
    walker = _Walker(max_depth)
    walker.walk(message, None, 1)
    return walker.out


class _Walker:
    def __init__(self, max_depth: int) -> None:
        self.out = Walked()
        self.max_depth = max_depth
        self._numbers: dict[str, int] = {}

    def walk(self, part: Message, forward: int | None, depth: int) -> None:
        """`forward`: the index of the forwarded message this part belongs to (its text is
        the forward's, never the customer's)."""
        self._defects(part)
        if depth > self.max_depth:
            raise RecursionError(f"MIME nesting deeper than {self.max_depth}")
        payload = part.get_payload()
        ctype = content_type(part)
        if isinstance(payload, list):
            if ctype.startswith("message/"):
                inner = [p for p in payload if isinstance(p, Message)]
                self._message(part, ctype, inner, forward, depth)
                return
            for child in payload:
                if isinstance(child, Message):
                    self.walk(child, forward, depth + 1)
            return
        self._leaf(part, ctype, forward, depth)

    def _leaf(self, part: Message, ctype: str, forward: int | None, depth: int) -> None:
        data, damage = transfer_decoded(part)
        if ctype.startswith("multipart/"):
            recovered = _multipart_again(part, data)
            if recovered is not None:
                self.walk(recovered, forward, depth + 1)
                return
            ctype = "text/plain"  # no parts to be found: shown as the text it is
        name = filename_of(part, self.out.charset)
        charset = _param(part, "charset")
        if charset and self.out.charset is None:
            self.out.charset = charset
        if is_tnef(ctype, name):
            self._tnef(part, data, name, forward, damage)
        elif ctype in _SMIME_TYPES or name.lower().endswith(".p7m"):
            self._smime(part, data, name, forward, depth, damage)
        elif ctype in _CALENDAR_TYPES:
            self._calendar(part, data, name, forward, damage)
        elif ctype in _BODY_TYPES and not name and not _is_attachment(part):
            self._text(data, charset, ctype == "text/html", forward, damage)
        else:
            self.attach(part, data, name, ctype, forward, damage)

    def _text(
        self, data: bytes, charset: str | None, html: bool, forward: int | None, damage: str
    ) -> None:
        if forward is not None:
            return  # kept whole in the forward's .eml; never merged into the customer's text
        text, note = decode(data, charset, html=html)
        if note:
            self.out.defects.append(note)
        if INVALID_UTF8 in note or (note.startswith(UNKNOWN_CHARSET) and not data.isascii()):
            # UTF-8 with bytes replaced, or 8-bit text read by a guess: the sender's text
            # differs, or may (ASCII reads the same whatever the label)
            damage = f"{damage}; {note}" if damage else note
        if damage:
            self.out.notes.append(f"Part of the text could not be decoded ({damage})")
            self.out.damage.append(f"{'HTML' if html else 'text'} part: {damage}")
        (self.out.html if html else self.out.plain).append(text)

    def attach(
        self,
        part: Message | None,
        data: bytes,
        name: str,
        ctype: str,
        forward: int | None,
        damage: str = "",
    ) -> int:
        """Add an attachment; returns its index among the mail's parts."""
        content_id = _header_text(part, "content-id", 998, self.out.charset) if part else ""
        disposition = _header_text(part, "content-disposition", 50, None).lower() if part else ""
        self.out.parts.append(
            Part(
                filename=name or self._generated_name(ctype),
                content_type=ctype,
                content_id=content_id,
                is_inline=disposition.startswith("inline") or bool(content_id and not disposition),
                data=data,
                damaged=bool(damage),
                damage_reason=damage,
                forwarded_in=forward,
            )
        )
        return len(self.out.parts) - 1

    def _generated_name(self, ctype: str) -> str:
        """`image-1.png`, `attachment-2.pdf`: a part without a name, named by its type."""
        prefix = "image" if ctype.startswith("image/") else "attachment"
        self._numbers[prefix] = number = self._numbers.get(prefix, 0) + 1
        return f"{prefix}-{number}{mimetypes.guess_extension(ctype) or '.bin'}"

    def _message(
        self, part: Message, ctype: str, payload: list[Message], forward: int | None, depth: int
    ) -> None:
        """message/rfc822 is a forward: kept as .eml, its files listed under it. Other
        message/* parts (delivery-status, disposition-notification) are kept as text."""
        data = message_bytes(payload[0]) if len(payload) == 1 else b""
        if ctype not in ("message/rfc822", "message/global") or len(payload) != 1:
            data = b"".join(message_bytes(p) for p in payload)
            name = filename_of(part, None) or f"{ctype.split('/', 1)[1]}.txt"
            self.attach(part, data, name, ctype, forward)
            return
        inner = payload[0]
        subject = _header_text(inner, "subject", 200, self.out.charset)
        sender = _header_text(inner, "from", 200, self.out.charset)
        name = filename_of(part, self.out.charset) or f"{_safe(subject) or 'forwarded message'}.eml"
        index = self.attach(part, data, name, "message/rfc822", forward)
        if forward is None:
            about = f"“{subject}”" + (f" from {sender}" if sender else "")
            self.out.notes.append(f"Forwarded message attached as {name}: {about}")
        self.walk(inner, index, depth + 1)

    def _tnef(
        self, part: Message, data: bytes, name: str, forward: int | None, damage: str
    ) -> None:
        try:
            unpacked = unpack(data)
        except ValueError as exc:
            self.attach(part, data, name or "winmail.dat", "application/ms-tnef", forward, str(exc))
            return
        if not unpacked.files and not unpacked.body and not unpacked.html:
            self.attach(part, data, name or "winmail.dat", "application/ms-tnef", forward, damage)
            return
        for file_name, content in unpacked.files:
            guessed = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            self.attach(None, content, _safe(file_name), guessed, forward, damage)
        if forward is None:
            self.out.wrapped_text.append(unpacked.body)
            self.out.wrapped_html.append(unpacked.html)

    def _smime(
        self, part: Message, data: bytes, name: str, forward: int | None, depth: int, damage: str
    ) -> None:
        found = smime.kind(data)
        if found == "signed":
            try:
                inner = PARSER.parsebytes(smime.signed_content(data))
            except smime.NotCms as exc:
                self.attach(
                    part, data, name or "smime.p7m", "application/pkcs7-mime", forward, str(exc)
                )
                return
            self.out.notes.append(
                "This message was signed with S/MIME; its content is shown, but the "
                "signature was not verified"
            )
            self.walk(inner, forward, depth + 1)
            return
        self.attach(part, data, name or "smime.p7m", "application/pkcs7-mime", forward, damage)
        if found == "encrypted" and forward is None:
            self.out.notes.append(
                "This message is encrypted with S/MIME and cannot be read here; the "
                "encrypted part is attached as " + (name or "smime.p7m")
            )

    def _calendar(
        self, part: Message, data: bytes, name: str, forward: int | None, damage: str
    ) -> None:
        self.attach(part, data, name or "invite.ics", "text/calendar", forward, damage)
        if forward is None:
            line = summary_line(decode(data, _param(part, "charset"))[0])
            if line:
                self.out.notes.append(line)

    def _defects(self, part: Message) -> None:
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name not in self.out.defects:
                self.out.defects.append(name)


_FIRST_DELIMITER = re.compile(rb"^--([^\s]{1,70})\s*$", re.M)
_ANY_BOUNDARY = re.compile(r"""boundary\s*=\s*"?([^";\s]{1,70})""", re.I)


def _multipart_again(part: Message, data: bytes) -> Message | None:
    """A multipart the parser could not split (its boundary missing, or declared in a
    second Content-Type header), split as mail clients do: with a boundary declared in
    any of its Content-Type headers, else the first delimiter-like line of its body."""
    declared = [
        m.group(1) for v in raw_headers(part, "content-type") for m in _ANY_BOUNDARY.finditer(v)
    ]
    found = _FIRST_DELIMITER.search(data)
    boundary = declared[0] if declared else found.group(1).decode("latin-1") if found else ""
    if not boundary:
        return None
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode("latin-1")
    again = PARSER.parsebytes(head + data)
    return again if again.is_multipart() else None


def content_type(part: Message) -> str:
    try:
        return clean_header_text(part.get_content_type(), limit=255) or "application/octet-stream"
    except Exception:  # a header the parser kept but cannot split
        return "application/octet-stream"


def transfer_decoded(part: Message) -> tuple[bytes, str]:
    """The part's bytes and, when they did not decode whole, why (RFC 2045 6)."""
    # get_payload() would decode 8-bit bytes with the declared charset, dropping what does
    # not fit; the parser's own copy holds them byte for byte (surrogate-escaped).
    payload = getattr(part, "_payload", "")
    text = payload if isinstance(payload, str) else ""
    raw = text.encode("utf-8", "surrogateescape")
    encoding = _header_text(part, "content-transfer-encoding", 60, None).lower()
    if encoding == "base64":
        data, whole = lenient_base64(raw)
        if not whole:
            return data, f"base64 data cut short or badly padded; {len(data)} bytes decoded"
        if _NOT_BASE64.search(raw):
            # RFC 2045 6.8: skipped, but they "indicate a transmission error".
            return data, f"characters outside base64 skipped; {len(data)} bytes decoded"
        return data, ""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(raw), ""
    if encoding in _UUENCODE:
        if not re.search(rb"^begin [0-7]{3,4} ", raw, re.MULTILINE):
            return raw, "uuencoded data without its begin line; kept as received"
        decoded = part.get_payload(decode=True)
        return (decoded if isinstance(decoded, bytes) else raw), ""
    if encoding in _PLAIN_ENCODINGS:
        return raw, ""
    return raw, f"unknown transfer encoding {encoding[:40]!r}; kept as received"


def filename_of(part: Message, hint: str | None) -> str:
    """The sender's file name (RFC 2231 parameters, RFC 2047 words in them as clients
    write them, raw 8-bit), without any folder part; "" if it has none."""
    shadow = Message()  # the headers as text first: raw 8-bit would read as U+FFFD
    for header in ("content-disposition", "content-type"):
        for value in raw_headers(part, header)[:1]:
            shadow[header] = from_8bit_header(value, hint)
    try:
        name = shadow.get_filename() or shadow.get_param("name") or ""
    except Exception:  # parameters the parser cannot split
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value get_param left encoded
        name = name[2]
    return _safe(str(name))


def raw_headers(part: Message, name: str) -> list[str]:
    """Every value of the header as the parser kept it, raw 8-bit bytes surrogate-escaped
    (compat32's `get` would turn them into U+FFFD before we can read them)."""
    wanted = name.lower()
    return [str(value) for key, value in part.raw_items() if key.lower() == wanted]


def _safe(name: str) -> str:
    return safe_filename(name, fallback="")


def message_bytes(message: Message) -> bytes:
    """A parsed message written back as bytes, as it came as far as the parser kept it."""
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=compat32).flatten(message)
    except Exception as exc:  # a header that cannot be written back: keep what was written
        return buffer.getvalue() + f"\n[postdesk: written back only up to here: {exc}]\n".encode()
    return buffer.getvalue()


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = value[2]
    return str(value).strip() or None if value else None


def _is_attachment(part: Message) -> bool:
    return _header_text(part, "content-disposition", 50, None).lower().startswith("attachment")


def _header_text(part: Message | None, name: str, limit: int, hint: str | None) -> str:
    values = raw_headers(part, name) if part is not None else []
    if not values:
        return ""
    return clean_header_text(from_8bit_header(values[0], hint), limit=limit)
