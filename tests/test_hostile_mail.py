"""Ugly and hostile mail: each is stored, then processed (a mail over a parsing limit as a
ticket with the raw message attached and the reason noted) or kept as failed with a reason
when it cannot become a ticket at all, and the listener keeps answering other clients."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon import worker_pool
from desk.blobs import blob_path
from desk.mail.parse import Limits
from desk.mail.prepare import Rejected, prepare
from desk.models import Attachment, InboundMail, TicketMessage
from tests.slow_parse import STALL_HEADER, stalling_prepare
from tests.support import make_mail, rows, send, settled, wait_for, wait_for_value


async def settled_one(daemon, stored_id: int, timeout: float = 30):
    async def check():
        found = await rows(daemon, InboundMail, InboundMail.id == stored_id)
        return found[0] if found and found[0].state != "received" else None

    return await wait_for(check, timeout=timeout, what=f"inbound {stored_id} settled")


async def deliver(daemon, raw: bytes, sender: str = "ugly@example.com") -> InboundMail:
    _, reply = await send(daemon.smtp_port, raw, sender=sender)
    stored_id = int(reply.rsplit(" ", 1)[1])
    return await settled_one(daemon, stored_id)


def nested(depth: int) -> bytes:
    head = b"From: deep@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = b""
    for level in range(depth):
        parts += (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
        )
    parts += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for level in reversed(range(depth)):
        parts += f"--b{level}--\r\n".encode()
    return head + parts


UGLY = {
    "broken boundary": (
        b"From: a@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-used"\r\n\r\n'
        b"--wrong\r\nContent-Type: text/plain\r\n\r\nhello\r\n--also-wrong--\r\n"
    ),
    "unterminated boundary": (
        b"From: a@example.com\r\nSubject: open\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="xx"\r\n\r\n'
        b"--xx\r\nContent-Type: text/plain\r\n\r\nno end in sight\r\n"
    ),
    "unknown charset": (
        b"From: a@example.com\r\nSubject: =?x-klingon?q?qapla=E9?=\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nnuqneH \xe9\xff\r\n"
    ),
    "wrong charset": (
        b"From: a@example.com\r\nSubject: latin\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9 cr\xe8me br\xfbl\xe9e\r\n"
    ),
    "raw 8-bit headers": (
        b"From: J\xf6rg M\xfcller <joerg@example.com>\r\nSubject: Gr\xfc\xdfe \xe2\x82\xac\r\n"
        b"\r\nbody\r\n"
    ),
    "no From": b"Subject: who am I\r\nMessage-ID: <nofrom@example.com>\r\n\r\nanonymous\r\n",
    "no Message-ID": b"From: a@example.com\r\nSubject: no id\r\n\r\nbody\r\n",
    "no headers at all": b"\r\njust a body\r\n",
    "html only with script": (
        b"From: a@example.com\r\nSubject: html\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Hi<script>alert(1)</script><img src=x onerror=alert(2)></p>\r\n"
    ),
    "NUL bytes": (
        b"From: N\x00ul <nul@example.com>\r\nSubject: a\x00b\r\nIn-Reply-To: <x\x00y@z>\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n'
        b"\r\nbody\x00with nul\r\n--B\r\nContent-Type: image/png\r\nContent-ID: <i\x00d>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--B--\r\n"
    ),
    "nested 50": nested(50),
    "nested 150": nested(150),
}


@pytest.mark.parametrize("name", list(UGLY))
async def test_ugly_mail_processed_or_failed_with_reason(daemon, name):
    inbound = await deliver(daemon, UGLY[name])
    assert inbound.state in ("processed", "failed")
    if inbound.state == "failed":
        assert inbound.error
    else:
        [message] = await rows(daemon, TicketMessage, TicketMessage.inbound_id == inbound.id)
        assert "\r" not in message.subject and "\n" not in message.subject
        assert "<script" not in message.body_html and "onerror" not in message.body_html
    # and the listener still answers
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=daemon.smtp_port) as client:
        code, _ = await client.noop()
        assert code == 250


async def unreadable_message(daemon, inbound: InboundMail, why: str) -> TicketMessage:
    """The mail over a limit became a message: the reason shown, the original attached."""
    assert inbound.state == "processed" and why in (inbound.error or "")
    [message] = await rows(daemon, TicketMessage, TicketMessage.inbound_id == inbound.id)
    assert why in message.body_text and "message.eml" in message.body_text
    [original] = await rows(daemon, Attachment, Attachment.ticket_message_id == message.id)
    assert original.filename == "message.eml" and original.content_type == "message/rfc822"
    return message


async def test_expected_outcomes_of_limits(daemon):
    deep = await deliver(daemon, UGLY["nested 150"])
    message = await unreadable_message(daemon, deep, "nesting")
    assert message.subject == "deep" and message.sender_email == "deep@example.com"
    shallow = await deliver(daemon, UGLY["nested 50"])
    assert shallow.state == "processed"
    anonymous = await deliver(daemon, UGLY["no From"], sender="")
    assert anonymous.state == "failed" and "sender" in anonymous.error
    from_envelope = await deliver(daemon, UGLY["no headers at all"], sender="env@example.com")
    assert from_envelope.state == "processed" and from_envelope.sender == "env@example.com"


async def test_five_megabyte_header_block_becomes_a_ticket_with_reason(daemon):
    # SMTP caps lines at 1000 octets (RFC 5321 4.5.3.1.6); many long lines make the 5 MB.
    big = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 900) for i in range(5600))
    raw = b"From: a@example.com\r\nSubject: huge headers\r\n" + big + b"\r\nbody\r\n"
    assert len(raw) > 5_000_000
    inbound = await deliver(daemon, raw)
    message = await unreadable_message(daemon, inbound, "header block")
    assert message.subject == "huge headers" and message.sender_email == "a@example.com"


async def test_twenty_megabyte_attachment_is_stored_by_hash(daemon, settings):
    import base64
    import hashlib
    import os

    payload = os.urandom(20 * 1024 * 1024)
    encoded = base64.encodebytes(payload)
    raw = (
        b"From: a@example.com\r\nSubject: big file\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
        b'Content-Type: application/octet-stream; name="../../etc/passwd"\r\n'
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--B--\r\n"
    )
    inbound = await deliver(daemon, raw)
    assert inbound.state == "processed", inbound.error
    [attachment] = await rows(daemon, Attachment)
    digest = hashlib.sha256(payload).hexdigest()
    assert attachment.sha256 == digest and attachment.size == len(payload)
    assert "/" not in attachment.filename
    stored = blob_path(settings.attachments_dir, digest)
    assert stored.read_bytes() == payload
    assert not (settings.data_dir.parent / "etc" / "passwd").exists()


@pytest.mark.parametrize("kind", ["semicolons", "addresses"])
async def test_pathological_header_does_not_stall_listener(daemon, kind):
    # Folded into lines under SMTP's 1000-octet limit, as a real client would send them.
    if kind == "semicolons":
        header = b"Content-Type: text/plain" + b"".join(b";" * 100 + b"\r\n " for _ in range(80))
        header = header.rstrip(b" ") + b"\r\n" if not header.endswith(b"\r\n") else header
        header = header[:-3] + b"\r\n"
    else:
        addrs = [b"a%d@x.y" % i for i in range(8000)]
        lines = [b", ".join(addrs[i : i + 50]) for i in range(0, 8000, 50)]
        header = b"To: " + b",\r\n ".join(lines) + b"\r\n"
    raw = b"From: a@example.com\r\nSubject: slow\r\n" + header + b"\r\nbody\r\n"
    _, reply = await send(daemon.smtp_port, raw)
    heavy_id = int(reply.rsplit(" ", 1)[1])
    # While it is parsed, other clients are answered: each mail is accepted and stored.
    for i in range(5):
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=daemon.smtp_port) as client:
            errors, ping = await client.sendmail(
                "b@example.com",
                ["support@localhost"],
                f"From: b@example.com\r\nSubject: ping {i}\r\n\r\nhi\r\n",
            )
        assert not errors and int(ping.rsplit(" ", 1)[1]) > heavy_id
    # The heavy one settles within its budget (5s CPU in tests, wall guard 20s).
    heavy = await settled_one(daemon, heavy_id, timeout=25)
    assert heavy.state == "processed" or heavy.error


# -- generated mail ---------------------------------------------------------------------

CHARSETS = [
    "utf-8",
    "latin-1",
    "x-unknown",
    "utf-7",
    "koi8-r",
    "utf-16",
    "",
    "iso-2022-jp",
    "\xff\xfe",
    "us-ascii",
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""]


@st.composite
def ugly_mails(draw: st.DrawFn) -> bytes:
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    subject = draw(st.binary(max_size=200)).replace(b"\n", b" ")
    header_noise = draw(st.lists(st.binary(min_size=1, max_size=80), max_size=5))
    body = draw(st.binary(max_size=3000))
    boundary = draw(st.sampled_from([b"b", b"", b'"', b"b;b", b"\xff"]))
    multipart = draw(st.booleans())
    lines = [
        b"From: gen@example.com",
        b"Subject: " + subject,
        b"Content-Type: "
        + (
            b"multipart/mixed; boundary=" + boundary
            if multipart
            else b"text/plain; charset=" + charset.encode("latin-1")
        ),
        b"Content-Transfer-Encoding: " + cte.encode(),
    ]
    lines += [n.replace(b"\r", b"").replace(b"\n", b"") for n in header_noise]
    if multipart:
        body = b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\n" + body
    return b"\r\n".join(lines) + b"\r\n\r\n" + body + b"\r\n"


@settings(max_examples=150, deadline=None)
@given(raw=ugly_mails())
def test_parser_never_crashes(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("att")
    result = prepare(raw, Limits(cpu_seconds=5), str(folder))
    if isinstance(result, Rejected):
        assert result.reason
        return
    parsed = result.mail
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    parsed.text.encode("utf-8")  # always valid text
    # Whatever the mail called its parts, files are named by their content's hash only.
    written = [f for f in Path(folder).glob("**/*") if f.is_file()]
    assert all(f.name == hashlib.sha256(f.read_bytes()).hexdigest() for f in written)
    assert all(blob_path(folder, p.sha256).is_file() for p in result.stored_parts)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=ugly_mails())
async def test_daemon_settles_generated_mail(daemon, raw):
    inbound = await deliver(daemon, raw, sender="gen@example.com")
    assert inbound.state in ("processed", "failed", "ignored")
    assert inbound.state != "failed" or inbound.error


async def test_a_killed_parse_worker_is_replaced_and_the_next_mail_processed(daemon, sink):
    """kill -9 of a worker (the OOM killer, an operator): the pool is replaced at the next
    mail, not broken until a restart as it once was (BrokenProcessPool on every batch)."""
    await send(daemon.smtp_port, make_mail(subject="before the kill")[0])
    await settled(daemon, 1)
    await wait_for_value(lambda: sink.messages, what="the ack (composed in the pool too)")
    os.kill(daemon.pool.pids[0], signal.SIGKILL)
    await wait_for_value(lambda: daemon.pool.broken, what="the pool noticed its dead worker")
    await send(daemon.smtp_port, make_mail(subject="after the kill")[0])
    done = await settled(daemon, 2)
    assert [m.state for m in done] == ["processed", "processed"], [m.error for m in done]
    subjects = sorted(m.subject for m in await rows(daemon, TicketMessage))
    assert "after the kill" in subjects


async def test_a_mail_slow_to_parse_holds_up_no_other_mail(daemon, monkeypatch, tmp_path):
    """A hostile mail's parse runs until its budget is spent; the mail sent right after it
    becomes a ticket meanwhile, and the slow one is then kept with its reason."""
    monkeypatch.setattr(worker_pool, "prepare", stalling_prepare)
    release = tmp_path / "release-the-slow-parse"
    # Written as is: EmailMessage would encode the long path as an encoded word.
    slow_raw = f"{STALL_HEADER}: {release}\n".encode() + make_mail(subject="slow to parse")[0]
    _, reply = await send(daemon.smtp_port, slow_raw, sender="slow@example.com")
    slow_id = int(reply.rsplit(" ", 1)[1])
    _, reply = await send(daemon.smtp_port, make_mail(subject="ordinary")[0])
    ordinary = await settled_one(daemon, int(reply.rsplit(" ", 1)[1]))
    assert ordinary.state == "processed" and ordinary.ticket_id is not None, ordinary.error
    [still] = await rows(daemon, InboundMail, InboundMail.id == slow_id)
    assert still.state == "received"  # its parse cannot have ended: it waits for the file
    release.touch()
    slow = await settled_one(daemon, slow_id)
    message = await unreadable_message(daemon, slow, "CPU time")
    assert message.subject == "slow to parse" and slow.ticket_id != ordinary.ticket_id


async def test_deeply_nested_html_is_kept_with_its_reason_at_once(daemon):
    """1 MB of nested <div>: the sanitizer's native parser would spend a minute on it,
    beyond the CPU budget's reach; the depth is checked first, in one pass."""
    head = b"From: a@example.com\r\nSubject: div bomb\r\nContent-Type: text/html\r\n\r\n"
    inbound = await deliver(daemon, head + b"<div>" * 200_000 + b"deep\r\n")
    message = await unreadable_message(daemon, inbound, "HTML nested deeper than 512")
    assert message.subject == "div bomb"


def test_html_as_deep_as_browsers_build_is_read(tmp_path):
    html = "<div>" * 500 + "<p>deep<p>still<br><img src=x>" + "</div>" * 500 + "<div>" * 12
    raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n" + html.encode()
    result = prepare(raw, Limits(cpu_seconds=5), str(tmp_path))
    assert not isinstance(result, Rejected) and not result.mail.unreadable
    assert "deep" in result.mail.html and "still" in result.mail.html
