"""Mail out: through the outbox, once each, retried while the relay is down, and never
carrying a header that someone smuggled in through a subject or a name."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from desk.mail.compose import Outgoing, compose, template_environment
from desk.models import InboundMail, OutboxMail, utcnow
from tests.support import make_mail, rows, send, send_due_now, wait_for, wait_for_value

TEMPLATES = template_environment()


async def _first_ticket(daemon, raw):
    await send(daemon.smtp_port, raw)

    async def check():
        done = await rows(daemon, InboundMail, InboundMail.state == "processed")
        return done[0].ticket_id if done else None

    return await wait_for(check, what="ticket")


async def test_relay_down_then_back_sends_each_once(daemon, api, sink, make_user):
    await sink.stop()
    ticket_id = await _first_ticket(daemon, make_mail(subject="Relay test")[0])
    await make_user("agent@localhost", "agent")
    token = await api.token("agent@localhost", "correct horse 1")
    for i in range(3):
        status, _ = await api.call(
            "POST",
            f"/api/tickets/{ticket_id}/messages/",
            token,
            json={"body": f"answer number {i}"},
        )
        assert status == 201

    async def tried():
        pending = await rows(daemon, OutboxMail, OutboxMail.last_error.is_not(None))
        return len(pending) == 4

    await wait_for(tried, what="failed attempts while the relay is down")
    assert all(o.state == "pending" for o in await rows(daemon, OutboxMail))

    await sink.start()

    async def all_sent():
        return all(o.state == "sent" for o in await rows(daemon, OutboxMail))

    await wait_for(all_sent, timeout=40, what="outbox drained after the relay came back")
    assert await send_due_now(daemon) == 0  # nothing more is due: nothing more can arrive
    ids = [m["Message-ID"] for m in sink.to("alice@example.com")]
    assert len(ids) == 4 and len(set(ids)) == 4
    bodies = [m.get_body(("plain",)).get_content() for m in sink.to("alice@example.com")]
    assert sum("answer number" in b for b in bodies) == 3


async def test_permanent_refusal_fails_without_retry(daemon, sink):
    sink.refuse = "550 5.1.1 No such user here"
    await _first_ticket(daemon, make_mail()[0])

    async def failed():
        found = await rows(daemon, OutboxMail, OutboxMail.state == "failed")
        return found[0] if found else None

    row = await wait_for(failed, what="a failed outbox row")
    assert "550" in row.last_error and row.attempts == 1


async def test_interrupted_send_is_not_repeated(daemon, sink):
    await _first_ticket(daemon, make_mail()[0])
    await wait_for_value(lambda: len(sink.messages) == 1, what="ack")

    async def sent() -> bool:  # the sink has it before the sender records it
        return [r.state for r in await rows(daemon, OutboxMail)] == ["sent"]

    await wait_for(sent, what="ack recorded as sent")
    # Simulate a process that died after claiming a row: the relay may have it already.
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(OutboxMail).values(state="sending", claimed_at=utcnow() - timedelta(hours=1))
        )

    async def settled():
        found = await rows(daemon, OutboxMail)
        return found[0] if found[0].state == "failed" else None

    row = await wait_for(settled, what="interrupted row settled")
    assert "not resent" in row.last_error
    assert await send_due_now(daemon) == 0
    assert len(sink.messages) == 1


INJECTIONS = [
    "=?utf-8?q?x=0D=0ABcc:_victim@example.com?=",
    "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
    "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3D0D=3D0ABcc:_victim@example.com=3F=3D?=",
    "plain\r\nBcc: victim@example.com",
    "bare\rBcc: victim@example.com",
    "unicode\u2028Bcc: victim@example.com",
]


async def test_injected_subject_and_name_never_add_headers(daemon, sink):
    for i, evil in enumerate(INJECTIONS):
        raw = (
            f"From: =?utf-8?q?Eve=0D=0ABcc:_victim{i}@example.com?= <eve{i}@example.com>\r\n"
            f"To: support@localhost\r\nSubject: {evil}\r\nMessage-ID: <inj{i}@example.com>"
            f"\r\n\r\nhello\r\n"
        ).encode("utf-8", "surrogateescape")
        await send(daemon.smtp_port, raw, sender=f"eve{i}@example.com")

    await wait_for_value(lambda: len(sink.messages) == len(INJECTIONS), what="acks")
    for envelope, message in sink.messages:
        assert len(envelope.rcpt_tos) == 1 and "victim" not in envelope.rcpt_tos[0]
        assert message["Bcc"] is None
        header_block = envelope.content.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in header_block and b"\nBcc:" not in header_block


@settings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=300), name=st.text(max_size=100))
def test_composed_headers_are_exactly_those_set(subject, name):
    out = Outgoing(
        to_address="c@example.com",
        to_name=name,
        from_name=name,
        from_address="support@localhost",
        reply_to="support+1-abc@localhost",
        subject=subject,
        template="reply",
        context={"body": subject, "agent_name": name, "ticket_id": 1, "desk_name": "Support"},
        in_reply_to="<a@b>",
        references=["<a@b>"],
    )
    raw = compose(out, TEMPLATES, "<x@localhost>")  # raises UnsafeHeader on any extra header
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [
        line.split(b":", 1)[0].lower()
        for line in head.split(b"\r\n")
        if line and not line[:1].isspace()
    ]
    assert sorted(names) == sorted(
        [
            b"from",
            b"to",
            b"reply-to",
            b"subject",
            b"date",
            b"message-id",
            b"in-reply-to",
            b"references",
            b"mime-version",
            b"content-type",
        ]
    )
