"""Text that is almost all UTF-8 stays UTF-8 (only its broken bytes replaced, the text
marked damaged), while a few legacy 8-bit letters stay windows-1252; and a header is
decoded exactly once, so an encoded word inside decoded text is shown (and sent) as the
literal text it is. Found by a fresh tester (t3c_charset_fallback, t1d_double_decode)."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from desk.mail.charsets import decode, from_8bit_header
from desk.mail.compose import Outgoing, compose, template_environment
from desk.mail.encoded_words import decode_words
from desk.mail.headers import clean_header_text
from desk.mail.parse import Limits, parse_mail
from desk.mail.providers import postmark_raw
from tests.conftest import SHARED
from tests.people import Team
from tests.support import wait_for_value
from tests.test_hostile_mail import deliver

JA = "お問い合わせありがとうございます。プリンターが動きません。至急対応をお願いします。"
DAMAGE_NOTE = "[Part of the text could not be decoded ("

# -- 1. mostly UTF-8 versus legacy 8-bit text ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label", "text"),
    [
        (JA.encode() + b" \xff", "utf-8", JA + " \ufffd"),  # one stray byte
        (JA.encode() + "日".encode()[:2], "utf-8", JA + "\ufffd"),  # last character cut
        (b"\x80" + JA.encode(), "utf-8", "\ufffd" + JA),  # a stray continuation byte first
        (JA.encode() + b"\xff", "x-unknown", JA + "\ufffd"),  # says nothing: same rule
        (JA.encode() + b"\xff", "x-mac-klingon", JA + "\ufffd"),  # unknown label
        (JA.encode() + b"\xc0\xaf", None, JA + "\ufffd\ufffd"),  # undeclared, overlong
        ("Grüße aus Köln ".encode() + b"\xff", "utf-8", "Grüße aus Köln \ufffd"),
        ("Привет, мир".encode() + b"\xd0", "us-ascii", "Привет, мир\ufffd"),
    ],
)
def test_mostly_utf8_text_keeps_its_text_and_says_what_was_replaced(data, label, text):
    decoded, note = decode(data, label)
    assert decoded == text
    assert "invalid byte sequence" in note


@pytest.mark.parametrize(
    ("data", "label", "text"),
    [
        (b"caf\xe9", "utf-8", "café"),  # a Latin-1 letter under the wrong label
        (b"caf\xe9", "us-ascii", "café"),
        (b"Se\xf1or Garc\xeda", None, "Señor García"),
        (b"R\xc9SUM\xc9\xbb", "utf-8", "RÉSUMÉ»"),  # É» is one valid UTF-8 pair by chance
        ("Grüße, Straße, Köln, Düsseldorf".encode("cp1252"), "utf-8", None),
    ],
)
def test_legacy_8bit_text_is_still_windows_1252(data, label, text):
    decoded, note = decode(data, label)
    assert decoded == (text or data.decode("cp1252"))
    assert "\ufffd" not in decoded and "invalid byte sequence" not in note


@pytest.mark.parametrize(
    "codec", ["euc_kr", "gb18030", "big5", "shift_jis", "euc_jp", "cp1251", "koi8_r"]
)
def test_legacy_multibyte_text_is_not_taken_for_broken_utf8(codec):
    """Legacy CJK and Cyrillic bytes form a valid UTF-8 pair now and then; the rule must
    not read them as UTF-8 with holes (they go to detection, as before)."""
    sample = {
        "euc_kr": "안녕하세요, 가격 문의 드립니다. 주문한 상품이 아직 도착하지 않았습니다.",
        "gb18030": "你好、我想询问一下价格。我订购的商品还没有到达、请尽快处理。",
        "big5": "您好、我想詢問一下價格。我訂購的商品還沒有到達、請儘快處理。",
        "shift_jis": JA,
        "euc_jp": JA,
        "cp1251": "Здравствуйте, принтер не работает. Прошу срочно помочь, спасибо.",
        "koi8_r": "Здравствуйте, принтер не работает. Прошу срочно помочь, спасибо.",
    }[codec]
    decoded, note = decode(sample.encode(codec), "x-unknown")
    assert "invalid byte sequence" not in note and "\ufffd" not in decoded


@pytest.mark.parametrize(
    ("header", "text"),
    [
        ("=?utf-8?q?" + "".join(f"={b:02X}" for b in "請求書".encode()) + "=FF?=", "請求書\ufffd"),
        ("=?utf-8?b?" + "5oCl44GO44Gn44GZ/w==" + "?=", "急ぎです\ufffd"),
        ("=?utf-8?q?R=C3=A9sum=C3=A9_=FF?=", "Résumé \ufffd"),
        # Latin-1 under utf-8 and a cut character stay what they were (windows-1252)
        ("=?utf-8?B?R3L832U=?=", "Grüße"),
        ("=?utf-8?Q?caf=C3?=", "caf\u00c3"),
    ],
)
def test_encoded_words_follow_the_same_rule(header, text):
    assert decode_words(header) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("請求書について".encode() + b"\xff", "請求書について\ufffd"),
        (b"\xe6\x80\xa5\xe3\x81\x8e " + "です".encode()[:-1], "急ぎ \u3067\ufffd"),
        (b"caf\xe9", "café"),  # legacy: windows-1252 as before
    ],
)
def test_raw_8bit_headers_follow_the_same_rule(raw, text):
    assert from_8bit_header(raw.decode("utf-8", "surrogateescape")) == text


def test_a_mostly_utf8_body_and_subject_mark_the_mail_damaged():
    raw = (
        b"From: ja@example.jp\r\nTo: support@localhost\r\nSubject: "
        + "至急".encode()
        + b"\xff\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + JA.encode() + b" \xff\r\n"
    )
    mail = parse_mail(raw, Limits())
    assert mail.text.startswith(JA + " \ufffd")
    assert DAMAGE_NOTE in mail.text and "invalid byte sequence" in mail.damage
    assert mail.subject == "至急\ufffd" and "subject" in mail.damage


# -- 2. each header decoded once -------------------------------------------------------------

DOUBLE = "=?utf-8?q?Invoice_=3D=3Futf-8=3Fb=3FUEFJRA=3D=3D=3F=3D?="


@pytest.mark.parametrize(
    ("header", "text"),
    [
        (DOUBLE, "Invoice =?utf-8?b?UEFJRA==?="),
        (
            "=?utf-8?q?How_do_I_write_=3D=3Fiso-8859-1=3Fq=3Fcaf=3DE9=3F=3D_in_a_header=3F?=",
            "How do I write =?iso-8859-1?q?caf=E9?= in a header?",
        ),
        ("=?utf-8?b?PT91dGYtOD9xP1BBSUQ/PQ==?= now", "=?utf-8?q?PAID?= now"),
        ("=?utf-8?q?Caf=C3=A9 broken", "=?utf-8?q?Caf=C3=A9 broken"),  # unterminated: raw
        ("Why does =?utf-8?b?!!!?= show up", "Why does =?utf-8?b?!!!?= show up"),
        ("=?utf-8?q?caf=C3=A9?=", "café"),  # one ordinary word: decoded, once
    ],
)
def test_a_header_is_decoded_exactly_once(header, text):
    assert clean_header_text(header) == text


def test_decoded_text_that_python_would_read_as_a_line_break_is_dropped():
    """Decoded once, the nested word is text; but CPython's header registry would read it
    as CR LF + a Bcc header if it ever reached a header, so it goes (as before)."""
    nested = "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3D0D=3D0ABcc:_victim@example.com=3F=3D?= x"
    assert "Bcc" not in clean_header_text(nested) and "\r" not in clean_header_text(nested)


BRAND = {"brand": {"desk_name": "Support", "accent_colour": "#2563eb", "logo": None}}


def _reply(subject: str, to_address: str = "c@example.com") -> bytes:
    out = Outgoing(
        to_address=to_address,
        to_name="Customer",
        from_name="Support",
        from_address="support@localhost",
        reply_to="support@localhost",
        subject=subject,
        template="reply",
        context={"body": "x", "agent_name": "A", "ticket_id": 1, "desk_name": "Support", **BRAND},
    )
    return compose(out, template_environment(), "<x@localhost>")


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Invoice =?utf-8?b?UEFJRA==?=",
        "Re: Why does =?utf-8?b?!!!?= show up",
        "Re: =?utf-8?q?Caf=C3=A9 broken",
        "Re: How do I write =?iso-8859-1?q?caf=E9?= in a header?" + " long words" * 12,
        "Re: Grüße =?utf-8?B?broken!!!?= 請求書 " + "について" * 20,
        "Re: =?",
    ],
)
@pytest.mark.parametrize("to_address", ["c@example.com", "josé@example.org"])
def test_a_literal_encoded_word_in_a_subject_reaches_the_recipient_as_text(subject, to_address):
    raw = _reply(subject, to_address)
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert received["Subject"] == subject
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_a_provider_subject_is_decoded_text_and_stays_so():
    """Postmark's JSON carries the subject decoded: rebuilt into a mail, it must read back
    as that text (it was decoded twice more: by us, and when read again)."""
    raw, _ = postmark_raw(
        {
            "From": "p@example.com",
            "To": "support@localhost",
            "Subject": "Invoice =?utf-8?b?UEFJRA==?=",
            "TextBody": "x",
        }
    )
    assert parse_mail(raw, Limits()).subject == "Invoice =?utf-8?b?UEFJRA==?="


def test_a_stored_subject_is_not_decoded_again_when_composed():
    received = email.message_from_bytes(_reply("Re: Invoice PAID =?utf-8?q?x?="))
    assert str(received["Subject"]) != "Re: Invoice PAID x"


# -- end to end: SMTP in, REST API out, the reply at the sink ---------------------------------


async def _message(daemon, team: Team, raw: bytes, sender: str) -> dict[str, Any]:
    inbound = await deliver(daemon, raw, sender=sender)
    assert inbound.state == "processed", inbound.error
    status, ticket = await team.call("admin", "GET", f"/api/tickets/{inbound.ticket_id}/")
    assert status == 200, ticket
    [message] = [m for m in ticket["messages"] if m["message_id"] == inbound.message_id]
    return message


@SHARED
async def test_a_utf8_body_with_a_stray_byte_reads_as_utf8_and_is_damaged(
    shared_daemon, shared_team
):
    raw = (
        b"From: ja@example.jp\r\nTo: support@localhost\r\nSubject: =?utf-8?q?"
        + "".join(f"={b:02X}" for b in "至急".encode()).encode()
        + b"=FF?=\r\nMessage-ID: <stray-byte@example.jp>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + JA.encode()
        + b" \xff\r\n"
    )
    message = await _message(shared_daemon, shared_team, raw, "ja@example.jp")
    assert message["body_text"].startswith(JA + " \ufffd")
    assert DAMAGE_NOTE in message["body_text"] and "invalid byte sequence" in message["body"]
    assert message["subject"] == "至急\ufffd"
    latin, _ = (
        b"From: ana@example.es\r\nTo: support@localhost\r\nSubject: caf\xe9\r\n"
        b"Message-ID: <latin@example.es>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nUn caf\xe9, por favor.\r\n",
        None,
    )
    legacy = await _message(shared_daemon, shared_team, latin, "ana@example.es")
    assert legacy["body"] == "Un café, por favor." and legacy["subject"] == "café"


async def test_a_subject_is_decoded_once_and_answered_as_written(daemon, sink, team):
    raw = (
        f"From: payer@example.com\r\nTo: support@localhost\r\nSubject: {DOUBLE}\r\n"
        "Message-ID: <double@example.com>\r\n\r\nPlease check.\r\n"
    ).encode()
    message = await _message(daemon, team, raw, "payer@example.com")
    assert message["subject"] == "Invoice =?utf-8?b?UEFJRA==?="
    inbound = await deliver(
        daemon,
        b"From: why@example.com\r\nTo: support@localhost\r\n"
        b"Subject: Why does =?utf-8?b?!!!?= show up\r\nMessage-ID: <why@example.com>\r\n\r\n?\r\n",
        sender="why@example.com",
    )
    status, ticket = await team.call("admin", "GET", f"/api/tickets/{inbound.ticket_id}/")
    assert ticket["subject"] == "Why does =?utf-8?b?!!!?= show up"
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{inbound.ticket_id}/messages/", json={"body": "Look."}
    )
    assert status == 201
    mails = await wait_for_value(
        lambda: len(sink.to("why@example.com")) >= 2 and sink.to("why@example.com")
    )
    subjects = [str(mail["Subject"]) for mail in mails]  # the ack, then the agent's reply
    assert subjects[-1].endswith("Why does =?utf-8?b?!!!?= show up"), subjects
    assert subjects[-1].startswith("Re: "), subjects
    acks = await wait_for_value(lambda: sink.to("payer@example.com"))
    assert str(acks[0]["Subject"]).endswith("Invoice =?utf-8?b?UEFJRA==?="), acks[0]["Subject"]
