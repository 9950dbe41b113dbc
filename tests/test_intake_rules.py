"""Intake decisions that a helpdesk operator relies on: dedup, relay refusal, loop safety,
reopening and the rate cap on automatic mail."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlalchemy import update

from desk.models import InboundMail, OutboxMail, Ticket, TicketMessage, User, utcnow
from tests.support import make_mail, rows, send, send_due_now, settled, wait_for_value


async def test_same_bytes_twice_stored_once(daemon):
    raw, _ = make_mail()
    first = await send(daemon.smtp_port, raw)
    second = await send(daemon.smtp_port, raw)
    assert first[1] == second[1]  # "queued as <same id>"
    await settled(daemon, 1)
    assert len(await rows(daemon, InboundMail)) == 1
    assert len(await rows(daemon, TicketMessage)) == 1


async def test_same_message_id_from_same_sender_is_one_message(daemon):
    raw1, _ = make_mail(body="first copy")
    raw2 = b"Received: from relay2.example by mx; Mon, 1 Jan 2024\r\n" + raw1
    await send(daemon.smtp_port, raw1)
    await send(daemon.smtp_port, raw2)
    both = await settled(daemon, 2)
    assert sorted(m.state for m in both) == ["ignored", "processed"]
    assert "duplicate" in next(m.error for m in both if m.state == "ignored")
    assert len(await rows(daemon, TicketMessage)) == 1


async def test_a_tool_reusing_one_message_id_for_new_mail_is_not_a_duplicate(daemon):
    """Scanners and some web apps give every mail the same Message-ID: a mail with new
    text or new files is a message of its own; only a copy of the same mail is ignored."""
    first, mid = make_mail(sender="scanner@example.com", subject="Scan", body="Page 1")
    new_text, _ = make_mail(
        sender="scanner@example.com", subject="Scan", body="Page 2", message_id=mid
    )
    new_file = EmailMessage()
    for name, value in (("From", "scanner@example.com"), ("To", "support@localhost")):
        new_file[name] = value
    new_file["Subject"], new_file["Message-ID"] = "Scan", mid
    new_file.set_content("Page 1")
    new_file.add_attachment(
        b"%PDF-1.4 scan", maintype="application", subtype="pdf", filename="scan.pdf"
    )
    copy = b"Received: from relay2.example by mx; Mon, 1 Jan 2024\r\n" + new_text
    for raw in (first, new_text, new_file.as_bytes(), copy):
        await send(daemon.smtp_port, raw, sender="scanner@example.com")
    stored = await settled(daemon, 4)
    assert [m.state for m in sorted(stored, key=lambda m: m.id)] == [
        "processed",
        "processed",
        "processed",
        "ignored",
    ]
    texts = [m.body_text for m in await rows(daemon, TicketMessage)]
    assert [t.startswith("Page 1") for t in texts] == [True, False, True]
    assert texts[1].startswith("Page 2")


async def test_rcpt_outside_support_domain_refused(daemon):
    raw, _ = make_mail(to="victim@elsewhere.example")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await send(daemon.smtp_port, raw, rcpt="victim@elsewhere.example")
    assert caught.value.recipients[0].code == 550
    assert await rows(daemon, InboundMail) == []


@pytest.mark.parametrize("rcpt", ["postmaster", "PostMaster", "postmaster@localhost"])
async def test_postmaster_is_accepted_and_lands_in_the_default_queue(daemon, rcpt: str):
    """RFC 5321 4.5.1: mail to postmaster, with or without a domain, must be accepted."""
    raw, _ = make_mail(to="postmaster", subject="Your server bounces our mail")
    await send(daemon.smtp_port, raw, rcpt=rcpt)
    [stored] = await settled(daemon, 1)
    assert stored.state == "processed" and stored.rcpt_tos == [rcpt]
    [ticket] = await rows(daemon, Ticket)
    assert ticket.subject == "Your server bounces our mail"
    # Other local names without a domain are still someone else's: refused.
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(daemon.smtp_port, raw, rcpt="abuse")


async def test_message_over_size_limit_refused(env, sink):
    from daemon.lifecycle import started
    from desk.config import load_settings

    small = load_settings({**env, "POSTDESK_MAX_MESSAGE_BYTES": "10000"}, read_dotenv=False)
    async with started(small) as running:
        raw, _ = make_mail(body="x" * (small.smtp_size_limit + 1))
        with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
            await send(running.smtp_port, raw)
        assert caught.value.code == 552
        assert await rows(running, InboundMail) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
    ],
)
async def test_automatic_mail_stored_but_not_answered(daemon, sink, headers):
    raw, _ = make_mail(subject="Out of office", headers=headers)
    await send(daemon.smtp_port, raw)
    [inbound] = await settled(daemon, 1)
    assert inbound.state == "processed" and inbound.ticket_id
    [message] = await rows(daemon, TicketMessage)
    assert message.is_automatic
    assert await rows(daemon, OutboxMail) == []


BOUNCE = b"""From: MAILER-DAEMON@mx.example.com\r
To: support@localhost\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <bounce-1@mx.example.com>\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r
\r
--b1\r
Content-Type: text/plain\r
\r
Delivery to bob@nowhere.example failed.\r
--b1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.com\r
\r
Final-Recipient: rfc822; bob@nowhere.example\r
Action: failed\r
Status: 5.1.1\r
--b1--\r
"""


async def test_bounce_stored_but_not_answered(daemon, sink):
    """A bounce returning no mail of ours is kept (ignored, with the reason), never a
    ticket or a customer (tests/test_bounces.py has the ones that return ours)."""
    await send(daemon.smtp_port, BOUNCE, sender="")
    [inbound] = await settled(daemon, 1)
    assert inbound.state == "ignored" and "bounce" in inbound.error
    assert await rows(daemon, TicketMessage) == [] and await rows(daemon, Ticket) == []
    assert await rows(daemon, OutboxMail) == [] and await send_due_now(daemon) == 0
    assert sink.messages == []


async def _set_ticket(daemon, ticket_id, **values):
    async with daemon.desk.db.writer() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


async def test_reply_to_resolved_ticket_reopens_it(daemon):
    raw, mid = make_mail(subject="Broken")
    await send(daemon.smtp_port, raw)
    [first] = await settled(daemon, 1)
    await _set_ticket(daemon, first.ticket_id, status="RESOLVED", resolved_at=utcnow())
    again, _ = make_mail(subject="Re: Broken", in_reply_to=mid, body="still broken")
    await send(daemon.smtp_port, again)
    [_, second] = await settled(daemon, 2)
    assert second.ticket_id == first.ticket_id
    [ticket] = await rows(daemon, Ticket)
    assert ticket.status == "OPEN" and ticket.resolved_at is None


@pytest.mark.parametrize("change", [{"status": "CLOSED"}, {"archived_at": "now"}])
async def test_reply_to_closed_or_archived_ticket_opens_linked_ticket(daemon, sink, change):
    raw, mid = make_mail(subject="Old problem")
    await send(daemon.smtp_port, raw)
    [first] = await settled(daemon, 1)
    values = {k: (utcnow() if v == "now" else v) for k, v in change.items()}
    await _set_ticket(daemon, first.ticket_id, **values)
    again, _ = make_mail(subject="Re: Old problem", in_reply_to=mid, body="it is back")
    await send(daemon.smtp_port, again)
    [_, second] = await settled(daemon, 2)
    old, new = await rows(daemon, Ticket)
    assert second.ticket_id == new.id and new.linked_ticket_id == old.id
    assert "closed or archived" in second.thread_rule
    # The new ticket is acknowledged like any new one.
    await wait_for_value(lambda: len(sink.to("alice@example.com")) == 2, what="second ack")


async def test_automatic_mail_to_one_address_is_capped(env, sink):
    from daemon.lifecycle import started
    from desk.config import load_settings

    capped = load_settings({**env, "POSTDESK_AUTO_REPLY_PER_HOUR": "3"}, read_dotenv=False)
    async with started(capped) as running:
        for i in range(5):
            raw, _ = make_mail(subject=f"request {i}")
            await send(running.smtp_port, raw)
        await settled(running, 5)
        assert len(await rows(running, Ticket)) == 5
        acks = await rows(running, OutboxMail, OutboxMail.kind == "acknowledgement")
        assert len(acks) == 3


async def test_mail_from_the_desks_own_addresses_is_our_own_come_back(daemon):
    """An alias or a forward that loops brings our own mail back (a tester fed a sent reply
    back in: it was stored again and made support@localhost a customer). Mail from a
    support address or one of its reply addresses is ignored, saying why: no ticket, no
    message, no customer account, no answer."""
    for sender in ("support@localhost", "Support+7-abcdef@localhost"):
        raw, _ = make_mail(sender=sender, name="Ourselves")
        await send(daemon.smtp_port, raw, sender=sender)
    stored = await settled(daemon, 2)
    assert {m.state for m in stored} == {"ignored"}
    assert all("the desk's own address" in (m.error or "") for m in stored)
    assert await rows(daemon, OutboxMail) == []
    assert await rows(daemon, Ticket) == []
    assert await rows(daemon, User, User.email.like("support%")) == []
