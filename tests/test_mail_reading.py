"""The parser on its own, where a daemon adds nothing: charsets and their aliases, broken
encoded words, file names, ids, subjects, the MIME part count, and mutated real mail (a
property-based test) that must still become a readable ticket message."""

from __future__ import annotations

import re

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.mail.charsets import codec_for, decode
from desk.mail.encoded_words import decode_words
from desk.mail.headers import message_ids_in, normalize_message_id
from desk.mail.parse import Limits, cut_subject, parse_mail
from desk.mail.prepare import Parsed, prepare
from desk.mail.unreadable import count_mime_parts
from desk.models import TicketMessage
from tests import mail_samples as samples
from tests.support import rows
from tests.test_hostile_mail import deliver


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("ks_c_5601-1987", "cp949"),
        ("GB2312", "gb18030"),
        ("windows-874", "cp874"),
        ("iso-8859-1", "cp1252"),
        ("Shift_JIS", "cp932"),
        ('"utf-8"', "utf-8"),
        ("us-ascii", None),
        ("x-klingon", None),
        ("unicode_escape", None),
    ],
)
def test_charset_labels_read_as_clients_read_them(label, codec):
    assert codec_for(label) == codec


def test_declared_charsets_with_their_real_world_supersets():
    assert decode("가격".encode("cp949"), "ks_c_5601-1987") == ("가격", "")
    assert decode("你好𠀀".encode("gb18030"), "gb2312") == ("你好𠀀", "")
    assert decode("สวัสดี".encode("cp874"), "windows-874") == ("สวัสดี", "")
    assert decode(b"\x80 5", "iso-8859-1") == ("€ 5", "")


def test_wrong_or_missing_charset_falls_back_without_loss():
    text, note = decode("Café crème".encode("latin-1"), "utf-8")
    assert text == "Café crème" and "utf-8" in note
    assert decode("naïve ✓".encode())[0] == "naïve ✓"  # undeclared: UTF-8 first
    assert decode(b"\x81\x8d", "windows-1252")[0] == "\x81\x8d"  # undefined: kept, no U+FFFD


@pytest.mark.parametrize(
    ("header", "text"),
    [
        ("=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?= 5", "€ 5"),  # one character split in two
        ("=?utf-8?B?R3LDvMOfZQ?=", "Grüße"),  # padding missing
        ("=?utf-8?B?R3LDvMOfZQ", "Grüße"),  # not closed
        ("=?utf-8*de?Q?Gr=C3=BC=C3=9Fe_aus?= K\u00f6ln", "Grüße aus Köln"),  # RFC 2231 lang
        ("=?ks_c_5601-1987?B?vsiz58fPvLy/5A==?=", "안녕하세요"),
        ("=?ISO-2022-JP?B?GyRCQEE1YT1xJEskRCQkJEYbKEI=?=", "請求書について"),
        ("a =?utf-8?q?b?= c", "a b c"),
        # Latin-1 bytes labelled utf-8: read as windows-1252, as the body's text is
        ("=?utf-8?B?R3L832U=?=", "Gr\u00fc\u00dfe"),
        # a character cut at the end, the good word before it read all the same
        ("=?utf-8?B?SGVsbG8g?= =?utf-8?Q?caf=C3?=", "Hello caf\u00c3"),
        # base64 that is not base64: kept as written (RFC 2047 6.3), not guessed
        ("=?utf-8?B?broken!!!?= x", "=?utf-8?B?broken!!!?= x"),
    ],
)
def test_broken_and_split_encoded_words(header, text):
    assert decode_words(header) == text


def test_message_ids_only_well_formed():
    assert normalize_message_id("<a@x> <b@y>") == "<a@x>"
    assert normalize_message_id("bare@host.example") == "<bare@host.example>"
    assert normalize_message_id("<no-at-sign>") is None
    assert message_ids_in('<a@b> junk <c d@e> <"q"@x> <f@[10.0.0.1]>') == [
        "<a@b>",
        "<f@[10.0.0.1]>",
    ]


def test_long_subject_cut_at_a_word_with_an_ellipsis():
    subject = "Invoice " * 60
    cut = cut_subject(subject.strip())
    assert len(cut) <= 250 and cut.endswith("Invoice…")
    assert cut_subject("x" * 300).endswith("…") and len(cut_subject("x" * 300)) == 250
    assert cut_subject("short") == "short"


def test_mime_parts_counted_without_parsing():
    assert count_mime_parts(samples.many_parts(3), 1000) == 3
    assert count_mime_parts(samples.forwarded(), 1000) == 5  # outer 3, inner 2
    assert count_mime_parts(b"Subject: x\r\n\r\n--not a part\r\n", 1000) == 0


def _prepared(raw: bytes, tmp_path) -> Parsed:
    result = prepare(raw, Limits(cpu_seconds=5), str(tmp_path))
    assert isinstance(result, Parsed)
    return result


def test_filenames_rfc2231_and_encoded_words(tmp_path):
    raw = (
        b"From: f@example.com\r\nSubject: names\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        b"\r\nsee files\r\n--b\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n\r\n"
        b"x\r\n--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?B?0KHRh9C10YIucGRm?="\r\n\r\n'
        b"y\r\n--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="..\\\\..\\\\Fa\xe7tura.pdf"\r\n\r\n'
        b"z\r\n--b--\r\n"
    )
    names = [p.filename for p in _prepared(raw, tmp_path).stored_parts]
    assert names == ["Rechnung März.pdf", "Счет.pdf", "Façtura.pdf"]


def test_unreadable_mail_keeps_subject_sender_and_raw(tmp_path):
    raw = samples.many_parts(1001)
    result = _prepared(raw, tmp_path)
    mail = result.mail
    assert mail.subject == "Many parts" and mail.from_address == "parts@example.com"
    assert "1001 MIME parts" in mail.unreadable and mail.message_id
    [original] = result.stored_parts
    assert original.filename == "message.eml" and original.size == len(raw)


# -- mutated real mail ----------------------------------------------------------------------

MARKER = "Kestrel"  # in the text part of every base mail, before anything mutated


def _base_mails() -> list[bytes]:
    truncated = samples.case_bytes("30-truncated-attachment").replace(
        b"Please find", MARKER.encode() + b": please find"
    )
    forward = samples.forwarded().replace(b"Customer words", MARKER.encode())
    tnef = samples.outlook_tnef().replace(b"Please see", MARKER.encode() + b" see")
    invite = samples.invitation_with_text().replace(b"You are invited", MARKER.encode())
    images = samples.inline_images().replace(b"See the", MARKER.encode() + b" the")
    return [truncated, forward, tnef, invite, images]


BASES = _base_mails()
LABELS = ["utf-8", "x-unknown", "iso-2022-jp", "ks_c_5601-1987", "gb2312", "utf-16", "bogus\xff"]


def _body_start(raw: bytes) -> int:
    """Where the first text part's content ends: mutations happen after it."""
    at = raw.index(MARKER.encode())
    end = raw.find(b"\n--", at)
    return end if end > 0 else len(raw)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(mail, whether its text part is untouched)."""
    raw = draw(st.sampled_from(BASES))
    start = _body_start(raw)
    kind = draw(st.sampled_from(["truncate", "base64", "charset", "duplicate"]))
    if kind == "truncate":
        return raw[: draw(st.integers(start, len(raw)))], True
    if kind == "base64":
        spot = draw(st.integers(start, len(raw) - 1))
        junk = draw(st.sampled_from([b"=", b"!!", b"", b"A", b"==\r\n", b"\xff"]))
        return raw[:spot] + junk + raw[spot + draw(st.integers(0, 7)) :], True
    if kind == "charset":
        label = draw(st.sampled_from(LABELS)).encode("latin-1")
        swapped = re.sub(rb'charset="?[A-Za-z0-9_-]+"?', b"charset=" + label, raw, count=1)
        return swapped, label in (b"utf-8", b"x-unknown")
    header = draw(st.sampled_from([b"From", b"Subject", b"Message-ID", b"Content-Type"]))
    line = re.search(rb"^" + header + rb":[^\n]*\n", raw, re.M | re.I)
    if line is None:
        return raw, True
    return raw[: line.end()] + line.group(0) + raw[line.end() :], True


@settings(max_examples=30, deadline=None)
@given(case=mutated())
def test_mutated_mail_still_reads(tmp_path_factory, case):
    raw, text_untouched = case
    result = _prepared(raw, tmp_path_factory.mktemp("att"))
    mail = result.mail
    assert mail.from_address and not mail.unreadable
    assert mail.text.strip()
    if text_untouched:
        assert MARKER in mail.text
    for part in result.stored_parts:
        assert part.filename and (part.damage_reason or not part.damaged)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=mutated())
async def test_daemon_turns_mutated_mail_into_messages(daemon, case):
    raw, text_untouched = case
    inbound = await deliver(daemon, raw, sender="sender@example.com")
    assert inbound.state in ("processed", "ignored"), inbound.error  # ignored: a duplicate
    if inbound.state == "processed":
        [message] = await rows(daemon, TicketMessage, TicketMessage.inbound_id == inbound.id)
        assert message.body_text.strip()
        assert not text_untouched or MARKER in message.body_text
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=daemon.smtp_port) as client:
        assert (await client.noop())[0] == 250


def test_an_unknown_charset_and_a_uuencoding_without_data_mark_the_text_damaged():
    """Found by a tester: read as one Big5 character and stored as "processed" with no
    reason. A couple of accented letters are windows-1252 (no guess believes two bytes),
    and both problems are the mail's damage, said."""
    raw = (
        b"From: w@example.org\r\nTo: support@localhost\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=bogus-charset\r\n"
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\nweird body \xe9\xe8\r\n"
    )
    mail = parse_mail(raw, Limits())
    assert mail.text.startswith("weird body \u00e9\u00e8")
    assert "unknown charset 'bogus-charset'" in mail.damage
    assert "without its begin line" in mail.damage
