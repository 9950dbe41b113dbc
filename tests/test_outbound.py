"""Mail out: through the outbox, once each, retried while the relay is down, and never
carrying a header that someone smuggled in through a subject or a name."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import aiosmtplib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from daemon.lifecycle import started
from daemon.outbound.sender import send_due
from daemon.outbound.transport import Relay
from desk.config import load_settings
from desk.mail.compose import Outgoing, compose, compose_spec, template_environment
from desk.mail.headers import clean_header_text
from desk.models import InboundMail, OutboxMail, User, utcnow
from tests.support import make_mail, rows, send, send_due_now, wait_for, wait_for_value

TEMPLATES = template_environment()
# What the sender adds to every context (desk/mail_brand.py).
BRAND = {"brand": {"desk_name": "Support", "accent_colour": "#2563eb", "logo": None}}


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


async def test_a_nameless_agent_answers_as_the_desk(daemon, api, sink, make_user):
    """The agent's login address is not shown to customers (From: the desk's name)."""
    ticket_id = await _first_ticket(daemon, make_mail(subject="Who answers")[0])
    agent = await make_user("agent@localhost", "agent")
    async with daemon.desk.db.writer() as session:
        await session.execute(update(User).where(User.id == agent.id).values(name=""))
    token = await api.token("agent@localhost", "correct horse 1")
    path = f"/api/tickets/{ticket_id}/messages/"
    assert (await api.call("POST", path, token, json={"body": "an answer"}))[0] == 201

    def answer():
        return [m for m in sink.to("alice@example.com") if "an answer" in str(m.get_body())]

    [mail] = await wait_for_value(answer, what="the answer")
    desk_name = daemon.desk.settings.desk_name
    assert "agent@localhost" not in str(mail["From"])
    assert mail["From"].addresses[0].display_name == desk_name
    # Signed by the desk alone, never "Support, Support".
    text = mail.get_body(("plain",)).get_content()
    assert f"-- \n{desk_name}\nTicket #{ticket_id}." in text.replace("\r\n", "\n")
    assert f"{desk_name}, {desk_name}" not in str(mail.get_body(("html",)).get_content())


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
        context={
            "body": subject,
            "agent_name": name,
            "ticket_id": 1,
            "desk_name": "Support",
            **BRAND,
        },
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


UTF8_CUSTOMER = "ünï@example.com"


async def _send_from_utf8_customer(port: int) -> None:
    """The tester's reproduction: a customer whose local part is not ASCII (RFC 6531)."""
    raw = (
        f"From: U <{UTF8_CUSTOMER}>\r\nTo: support@localhost\r\nSubject: utf8\r\n"
        "Message-ID: <utf8-customer@example.com>\r\n\r\nx\r\n"
    ).encode()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) as client:
        errors, _reply = await client.sendmail(
            UTF8_CUSTOMER, ["support@localhost"], raw, mail_options=["SMTPUTF8"]
        )
        assert not errors


async def test_an_address_the_relay_cannot_carry_fails_alone(daemon, sink):
    """The sink does not offer SMTPUTF8: the acknowledgement to the non-ASCII address fails
    with the reason, and the mail queued after it goes out (it once held up the batch)."""
    await _send_from_utf8_customer(daemon.smtp_port)
    for i in range(4):
        await send(daemon.smtp_port, make_mail(sender=f"plain{i}@example.com")[0])

    async def settled_rows():
        found = await rows(daemon, OutboxMail)
        states = sorted(r.state for r in found)
        return found if states == ["failed", "sent", "sent", "sent", "sent"] else None

    found = await wait_for(settled_rows, what="one failed row, four sent")
    [row] = [r for r in found if r.state == "failed"]
    assert row.recipient == UTF8_CUSTOMER and "SMTPUTF8" in row.last_error
    assert len(sink.messages) == 4


async def test_an_address_with_a_utf8_local_part_goes_out_with_smtputf8(daemon, sink):
    sink.smtputf8 = True
    await _send_from_utf8_customer(daemon.smtp_port)
    [(envelope, message)] = await wait_for_value(lambda: sink.messages, what="the ack")
    assert envelope.rcpt_tos == [UTF8_CUSTOMER] and "SMTPUTF8" in envelope.mail_options
    assert f"<{UTF8_CUSTOMER}>".encode() in envelope.original_content  # RFC 6532 header
    assert message["In-Reply-To"] == "<utf8-customer@example.com>"


async def test_a_row_whose_composing_raises_fails_alone(env, sink):
    """Generally: whatever one row raises while it is composed is that row's failure. No
    relay configured, so the daemon's sender leaves the rows to the one run here."""
    settings = load_settings({**env, "POSTDESK_RELAY_URL": ""}, read_dotenv=False)
    async with started(settings) as running:
        for i in range(3):
            await send(running.smtp_port, make_mail(sender=f"c{i}@example.com")[0])
        await wait_for(lambda: _rows_queued(running, 3), what="three queued acks")
        composed: list[str] = []

        async def composer(spec, message_id):
            composed.append(message_id)
            if len(composed) == 1:
                raise KeyError("a template variable went missing")
            return compose_spec(spec, message_id)

        relay = Relay.from_url(f"smtp://127.0.0.1:{sink.port}")
        assert await send_due(running.desk, relay, composer) == 3
        found = await rows(running, OutboxMail)
        assert sorted(r.state for r in found) == ["failed", "sent", "sent"]
        [bad] = [r for r in found if r.state == "failed"]
        assert "KeyError" in bad.last_error and len(sink.messages) == 2


async def _rows_queued(running, count):
    return len(await rows(running, OutboxMail)) == count


LONG_ID = "<AM0PR07MB6114A1B2C3D4E5F60718293A4B5C6D7E8F9@AM0PR07MB6114.eurprd07.prod.outlook.com>"


def _header_lines(raw: bytes, name: bytes) -> bytes:
    """A header's line with its folded continuation lines, as on the wire."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    start = head.index(b"\r\n" + name + b":") + 2
    end = start
    while True:
        end = head.find(b"\r\n", end) + 2
        if end == 1 or head[end : end + 1] not in (b" ", b"\t"):
            return head[start : (end - 2 if end > 1 else len(head))]


async def test_long_message_ids_are_written_as_ids_not_encoded_words(daemon, sink):
    """RFC 5322 3.6.4: msg-id headers carry ids, never RFC 2047 words; a long id keeps its
    line. Once, In-Reply-To came out as =?utf-8?q?=3CAM0PR07MB6114...?=."""
    await send(daemon.smtp_port, make_mail(message_id=LONG_ID, references=LONG_ID)[0])
    [(envelope, _)] = await wait_for_value(lambda: sink.messages, what="the ack")
    raw = envelope.original_content
    assert _header_lines(raw, b"In-Reply-To") == b"In-Reply-To: " + LONG_ID.encode()
    assert _header_lines(raw, b"References") == b"References: " + LONG_ID.encode()
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]


async def test_a_synthetic_id_is_written_as_an_id(daemon, sink):
    """A mail without a Message-ID is threaded by <sha256@postdesk.invalid> (83 octets)."""
    raw, _ = make_mail()
    raw = b"\n".join(line for line in raw.split(b"\n") if not line.startswith(b"Message-ID"))
    await send(daemon.smtp_port, raw)
    [(envelope, _)] = await wait_for_value(lambda: sink.messages, what="the ack")
    sent = envelope.original_content
    in_reply_to = _header_lines(sent, b"In-Reply-To").decode()
    assert re.fullmatch(r"In-Reply-To: <[0-9a-f]{64}@postdesk\.invalid>", in_reply_to)
    assert _header_lines(sent, b"References").decode().split()[1:] == in_reply_to.split()[1:]
    assert b"=?" not in sent.split(b"\r\n\r\n", 1)[0]


def test_many_references_fold_between_ids_and_broken_ids_are_left_out():
    refs = [f"<ref{i}.{'x' * 30}@example.com>" for i in range(5)]
    out = Outgoing(
        to_address="c@example.com",
        to_name="C",
        from_name="Support",
        from_address="support@localhost",
        reply_to="support+1-abc@localhost",
        subject="Re: x",
        template="reply",
        context={"body": "x", "agent_name": "A", "ticket_id": 1, "desk_name": "Support", **BRAND},
        in_reply_to=LONG_ID,
        references=[*refs, "not an id", "<" + "y" * 1000 + "@example.com>", LONG_ID],
    )
    raw = compose(out, TEMPLATES, "<x@localhost>")
    references = _header_lines(raw, b"References").decode()
    lines = references.split("\r\n")
    assert len(lines) > 2 and all(len(line) <= 78 for line in lines[:-1])
    assert lines[-1] == " " + LONG_ID  # alone on its line, longer than 78: kept whole
    assert references.split() == ["References:", *refs, LONG_ID]


@pytest.mark.parametrize(
    "subject",
    [
        "Re: =?utf-8?B?SGVsbG8g?= =?utf-8?Q?caf=C3?= =?x-unknown?Q?abc?= =?utf-8?B?w6k=?=tail",
        "Re: =?utf-8?B?broken!!!?= kept as written",
        "Re: =?utf-8?Q?caf=C3?=",
    ],
)
@pytest.mark.parametrize("to_address", ["w4@example.org", "josé@example.org"])
def test_a_subject_with_broken_encoded_words_is_composed(subject, to_address):
    """Found by a tester: such a subject (a ticket's, as a customer wrote it) made every
    mail of its ticket fail to compose (lone surrogates in an SMTPUTF8 mail), replies
    included. Now the mail is composed, plain SMTP and SMTPUTF8 alike, and its subject reads
    back as the desk shows it: what intake stored (decoded once), a word kept as written
    arriving as written (encoded, so the recipient's client does not decode it again)."""
    shown = clean_header_text(subject)  # what intake stores, the desk shows and sends
    out = Outgoing(
        to_address=to_address,
        to_name=clean_header_text("=?utf-8?Q?W=C3?="),
        from_name="Support",
        from_address="support@localhost",
        reply_to="support@localhost",
        subject=shown,
        template="reply",
        context={"body": "x", "agent_name": "A", "ticket_id": 1, "desk_name": "Support", **BRAND},
    )
    raw = compose(out, TEMPLATES, "<x@localhost>")
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert sent["Subject"] == shown
