"""Bounces of our mail (RFC 3464 reports and the non-standard formats Postfix, qmail and
Exchange send) land on the ticket of the mail they return as a delivery failure, never as a
customer or a ticket of their own, and suppress the failed address for automatic mail until
it expires or an admin lifts it. Agent replies still go out, with a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from desk.models import InboundMail, OutboxMail, Suppression, Ticket, TicketMessage, User
from tests.sockets import until
from tests.support import make_mail, rows, send, send_due_now, settled, wait_for, wait_for_value
from tests.test_automatic_mail import _case

GHOST = "ghost@example.net"


def dsn(failed: str, returned_id: str, *, status: str = "5.1.1") -> bytes:
    """A Postfix-style RFC 3464 report returning the headers of our mail."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r
To: support@localhost\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <dsn-{status}-{failed}@mx.example.net>\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r
\r
--B\r
Content-Type: text/plain\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
\r
--B\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
\r
Final-Recipient: rfc822; {failed}\r
Action: {"failed" if status.startswith("5") else "delayed"}\r
Status: {status}\r
Diagnostic-Code: smtp; 550 {status} <{failed}>: Recipient address rejected: User unknown\r
\r
--B\r
Content-Type: text/rfc822-headers\r
\r
From: Support <support@localhost>\r
To: {failed}\r
Subject: [#1] Question\r
Message-ID: {returned_id}\r
\r
--B--\r
""".encode()


def postfix_without_report(failed: str, returned_id: str) -> bytes:
    """Older Postfix: multipart/mixed with a `notification` part and the mail attached."""
    return f"""From: MAILER-DAEMON@mail.example.net (Mail Delivery System)\r
To: support@localhost\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <pf-{failed}@mail.example.net>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="P"\r
\r
--P\r
Content-Description: Notification\r
Content-Type: text/plain\r
\r
This is the Postfix program at host mail.example.net.\r
\r
I'm sorry to have to inform you that the message returned\r
below could not be delivered to one or more destinations.\r
\r
\t\t\tThe Postfix program\r
\r
<{failed}>: host mx.example.net[192.0.2.1] said: 550 5.1.1 User unknown\r
    (in reply to RCPT TO command)\r
\r
--P\r
Content-Description: Undelivered Message\r
Content-Type: message/rfc822\r
\r
From: Support <support@localhost>\r
To: {failed}\r
Subject: [#1] Question\r
Message-ID: {returned_id}\r
\r
We received your request.\r
--P--\r
""".encode()


def qmail(failed: str, returned_id: str) -> bytes:
    """qmail's QSBMF: plain text, the returned headers quoted below a break line."""
    return f"""From: MAILER-DAEMON@qmail.example.net\r
To: support@localhost\r
Subject: failure notice\r
Message-ID: <qm-{failed}@qmail.example.net>\r
\r
Hi. This is the qmail-send program at qmail.example.net.\r
I'm afraid I wasn't able to deliver your message to the following addresses.\r
This is a permanent error; I've given up. Sorry it didn't work out.\r
\r
<{failed}>:\r
Sorry, no mailbox here by that name. (#5.1.1)\r
\r
--- Below this line is a copy of the message.\r
\r
Return-Path: <support@localhost>\r
From: Support <support@localhost>\r
To: {failed}\r
Subject: [#1] Question\r
Message-ID: {returned_id}\r
\r
We received your request.\r
""".encode()


def exchange(failed: str, returned_id: str) -> bytes:
    """An older Exchange non-delivery report: the text, and our mail attached."""
    return f"""From: System Administrator <postmaster@corp.example.net>\r
To: support@localhost\r
Subject: Undeliverable: [#1] Question\r
Message-ID: <ex-{failed}@corp.example.net>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="E"\r
\r
--E\r
Content-Type: text/plain\r
\r
Your message did not reach some or all of the intended recipients.\r
\r
The following recipient(s) could not be reached:\r
\r
Your message did not reach the following recipient(s):\r
{failed} on Sun, 29 Nov 2026 10:01:00 +0000\r
    The e-mail account does not exist at the organization this message was sent to.\r
    <ex01.corp.example.net #5.1.1 smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found>\r
    MSEXCH:IMS:Corp:EX01 0 (000C05A6) Unknown Recipient\r
\r
--E\r
Content-Type: message/rfc822\r
\r
From: Support <support@localhost>\r
To: {failed}\r
Subject: [#1] Question\r
Message-ID: {returned_id}\r
\r
We received your request.\r
--E--\r
""".encode()


async def _ghost_writes(daemon, count: int, subject: str = "Question about pricing"):
    """Ghost writes in; returns the stored mail and its acknowledgement's outbox row."""
    raw, _ = make_mail(sender=GHOST, name="Ghost Writer", subject=subject)
    await send(daemon.smtp_port, raw, sender=GHOST)
    inbound = (await settled(daemon, count))[-1]
    [ack] = await rows(
        daemon, OutboxMail, OutboxMail.ticket_id == inbound.ticket_id, OutboxMail.kind != "reply"
    )
    return inbound, ack


async def _delivery_failure_on(daemon, ticket_id: int) -> TicketMessage:
    [failure] = await rows(
        daemon,
        TicketMessage,
        TicketMessage.ticket_id == ticket_id,
        TicketMessage.kind == "delivery_failure",
    )
    return failure


@pytest.mark.parametrize("make_bounce", [dsn, postfix_without_report, qmail, exchange])
async def test_bounce_of_acknowledgement_lands_on_its_ticket(daemon, sink, make_bounce):
    first, ack = await _ghost_writes(daemon, 1)
    # Bounces come with a null envelope sender (RFC 5321 section 4.5.5).
    await send(daemon.smtp_port, make_bounce(GHOST, ack.message_id), sender="")
    [_, bounce] = await settled(daemon, 2)
    assert bounce.state == "processed" and bounce.ticket_id == first.ticket_id
    assert len(await rows(daemon, Ticket)) == 1
    assert [u.email for u in await rows(daemon, User)] == [GHOST]  # no MAILER-DAEMON customer
    failure = await _delivery_failure_on(daemon, first.ticket_id)
    assert GHOST in failure.body_new and "5.1.1" in failure.body_new
    assert failure.is_automatic and failure.author_id is None
    [suppression] = await rows(daemon, Suppression)
    assert (suppression.address, suppression.ticket_id) == (GHOST, first.ticket_id)
    assert suppression.outbox_id == ack.id and "5.1.1" in suppression.reason
    [ticket] = await rows(daemon, Ticket)
    assert ticket.status == "OPEN"  # a bounce is not a customer writing
    assert len(await rows(daemon, OutboxMail)) == 1  # nothing answers the bounce


async def test_delayed_report_is_shown_but_suppresses_nothing(daemon, sink):
    first, ack = await _ghost_writes(daemon, 1)
    await send(daemon.smtp_port, dsn(GHOST, ack.message_id, status="4.4.1"), sender="")
    await settled(daemon, 2)
    failure = await _delivery_failure_on(daemon, first.ticket_id)
    assert "is delayed" in failure.body_new and "4.4.1" in failure.body_new
    assert await rows(daemon, Suppression) == []


async def test_bounce_of_no_mail_of_ours_is_kept_not_a_ticket(daemon, sink):
    await send(daemon.smtp_port, dsn("bob@nowhere.example", "<not-ours@elsewhere>"), sender="")
    [inbound] = await settled(daemon, 1)
    assert inbound.state == "ignored" and "bounce" in inbound.error
    assert inbound.ticket_id is None
    assert await rows(daemon, Ticket) == [] and await rows(daemon, User) == []
    assert await rows(daemon, Suppression) == []  # backscatter suppresses nobody
    assert await send_due_now(daemon) == 0


async def test_suppressed_address_warned_lifted_and_mailed_again(daemon, sink, team):
    """The whole round: bounce, no acknowledgement to the address, the agent's reply goes
    out with a warning, the customer never sees the failure, the admin lifts it."""
    carol = team.users["carol"].email
    raw, _ = make_mail(sender=carol, subject="Broken login")
    await send(daemon.smtp_port, raw, sender=carol)
    [first] = await settled(daemon, 1)
    [ack] = await rows(daemon, OutboxMail)
    await wait_for_value(lambda: sink.to(carol), what="acknowledgement")
    await send(daemon.smtp_port, dsn(carol, ack.message_id), sender="")
    await settled(daemon, 2)

    # Carol writes again: her new ticket's acknowledgement is kept, not sent.
    again, _ = make_mail(sender=carol, subject="Still broken")
    await send(daemon.smtp_port, again, sender=carol)
    [*_, second] = await settled(daemon, 3)
    [held] = await rows(daemon, OutboxMail, OutboxMail.ticket_id == second.ticket_id)
    assert held.state == "suppressed" and carol in held.last_error
    assert await send_due_now(daemon) == 0 and len(sink.to(carol)) == 1

    status, answer = await team.call(
        "agent1", "POST", f"/api/tickets/{first.ticket_id}/messages/", json={"body": "Try now."}
    )
    assert status == 201, answer
    [warning] = answer["warnings"]
    assert (warning["code"], warning["address"]) == ("recipient_suppressed", carol)
    assert "5.1.1" in warning["reason"]
    await wait_for_value(lambda: len(sink.to(carol)) == 2, what="the agent's reply, sent")
    # Copied (Cc) or addressed beside the customer (another To), she is named all the same.
    other = await team.open_ticket("dave", subject="Copy carol")
    for field in ("cc", "to"):
        addressed = [f"Carol <{carol}>"] + ([team.users["dave"].email] if field == "to" else [])
        status, answer = await team.call(
            "agent1",
            "POST",
            f"/api/tickets/{other}/messages/",
            json={"body": f"Copying Carol ({field}).", field: addressed},
        )
        assert status == 201, answer
        assert [w["address"] for w in answer["warnings"]] == [carol], field
    await wait_for_value(lambda: len(sink.to(carol)) == 4, what="both copies, sent")

    _, seen_by_staff = await team.call("agent1", "GET", f"/api/tickets/{first.ticket_id}/")
    kinds = [m["kind"] for m in seen_by_staff["messages"]]
    assert "delivery_failure" in kinds
    failure = next(m for m in seen_by_staff["messages"] if m["kind"] == "delivery_failure")
    assert failure["is_internal"] and failure["is_automatic"]
    _, seen_by_carol = await team.call("carol", "GET", f"/api/tickets/{first.ticket_id}/")
    assert "delivery_failure" not in [m["kind"] for m in seen_by_carol["messages"]]

    status, listed = await team.call("admin", "GET", "/api/admin/suppressions/?address=carol")
    assert status == 200 and listed["count"] == 1
    [entry] = listed["results"]
    assert entry["address"] == carol and entry["ticket_id"] == first.ticket_id
    assert entry["outbox_id"] == ack.id and entry["expires_at"]  # 30 days by default
    status, _ = await team.call("admin", "DELETE", f"/api/admin/suppressions/{entry['id']}/")
    assert status == 204
    assert (await team.call("admin", "DELETE", f"/api/admin/suppressions/{entry['id']}/"))[0] == 404
    assert (await team.call("admin", "GET", "/api/admin/suppressions/"))[1]["count"] == 0

    status, answer = await team.call(
        "agent1", "POST", f"/api/tickets/{first.ticket_id}/messages/", json={"body": "Now?"}
    )
    assert status == 201 and answer["warnings"] == []
    third, _ = make_mail(sender=carol, subject="A new question")
    await send(daemon.smtp_port, third, sender=carol)
    await settled(daemon, 4)
    await wait_for_value(lambda: len(sink.to(carol)) == 6, what="acknowledgements flowing again")


async def test_suppression_expires(env, sink):
    from daemon.lifecycle import started
    from desk.config import load_settings

    settings = load_settings({**env, "POSTDESK_SUPPRESSION_DAYS": "2"}, read_dotenv=False)
    async with started(settings) as running:
        _, ack = await _ghost_writes(running, 1)
        await send(running.smtp_port, dsn(GHOST, ack.message_id), sender="")
        await settled(running, 2)
        [suppression] = await rows(running, Suppression)
        assert suppression.expires_at - suppression.created_at == timedelta(days=2)
        with time_machine.travel(datetime.now(UTC) + timedelta(days=1), tick=True):
            second, _ = await _ghost_writes(running, 3, subject="Second try")
            [held] = await rows(running, OutboxMail, OutboxMail.ticket_id == second.ticket_id)
            assert held.state == "suppressed"
        with time_machine.travel(datetime.now(UTC) + timedelta(days=3), tick=True):
            third, _ = await _ghost_writes(running, 4, subject="Third try")
            [ack3] = await rows(running, OutboxMail, OutboxMail.ticket_id == third.ticket_id)
            assert ack3.state in ("pending", "sending", "sent")
            # Sent while the clock is moved on: the row is due from then.
            await wait_for_value(lambda: len(sink.to(GHOST)) == 2, what="ack after expiry")


async def test_suppression_without_expiry(env, sink):
    from daemon.lifecycle import started
    from desk.config import load_settings

    settings = load_settings({**env, "POSTDESK_SUPPRESSION_DAYS": "0"}, read_dotenv=False)
    async with started(settings) as running:
        _, ack = await _ghost_writes(running, 1)
        await send(running.smtp_port, qmail(GHOST, ack.message_id), sender="")
        await settled(running, 2)
        [suppression] = await rows(running, Suppression)
        assert suppression.expires_at is None


async def test_case_05_bounce(daemon, sink):
    """shared/cases/mail/05-bounce, sent as its README says (envelope sender = From)."""
    await send(daemon.smtp_port, _case("05-bounce", 1), sender=GHOST)
    [first] = await settled(daemon, 1)
    [ack] = await rows(daemon, OutboxMail)
    two = _case("05-bounce", 2, TICKET=str(first.ticket_id), ACK_MSGID=ack.message_id)
    await send(daemon.smtp_port, two, sender="MAILER-DAEMON@mx.example.net")
    [_, bounce] = await settled(daemon, 2)
    assert bounce.ticket_id == first.ticket_id
    assert len(await rows(daemon, Ticket)) == 1
    assert [u.email for u in await rows(daemon, User)] == [GHOST]
    failure = await _delivery_failure_on(daemon, first.ticket_id)
    assert GHOST in failure.body_new and "5.1.1" in failure.body_new
    [suppression] = await rows(daemon, Suppression)
    assert suppression.address == GHOST
    assert len(await rows(daemon, OutboxMail)) == 1  # no acknowledgement to the bounce
    again, _ = make_mail(sender=GHOST, subject="Hello again")
    await send(daemon.smtp_port, again, sender=GHOST)
    [*_, third] = await settled(daemon, 3)
    [held] = await rows(daemon, OutboxMail, OutboxMail.ticket_id == third.ticket_id)
    assert held.state == "suppressed"
    assert await rows(daemon, InboundMail, InboundMail.state == "failed") == []


async def test_read_receipt_is_automatic_mail_not_a_bounce(daemon, sink):
    """A read receipt (RFC 8098, multipart/report too) returning our headers is kept on the
    ticket as automatic mail; nothing failed, so nothing is suppressed."""
    first, ack = await _ghost_writes(daemon, 1)
    receipt = f"""From: Ghost Writer <{GHOST}>\r
To: support@localhost\r
Subject: Read: Question about pricing\r
Message-ID: <mdn-1@example.net>\r
In-Reply-To: {ack.message_id}\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r
\r
--R\r
Content-Type: text/plain\r
\r
Your message was displayed.\r
--R\r
Content-Type: message/disposition-notification\r
\r
Final-Recipient: rfc822; {GHOST}\r
Original-Message-ID: {ack.message_id}\r
Disposition: manual-action/MDN-sent-manually; displayed\r
--R\r
Content-Type: text/rfc822-headers\r
\r
Message-ID: {ack.message_id}\r
\r
--R--\r
""".encode()
    await send(daemon.smtp_port, receipt, sender=GHOST)
    [_, inbound] = await settled(daemon, 2)
    assert inbound.state == "processed" and inbound.ticket_id == first.ticket_id
    [_, message] = await rows(daemon, TicketMessage)
    assert message.kind == "inbound" and message.is_automatic
    assert await rows(daemon, Suppression) == []


async def _reply_row(daemon, ticket: int, state: str) -> OutboxMail:
    async def found() -> OutboxMail | None:
        replies = await rows(
            daemon,
            OutboxMail,
            OutboxMail.ticket_id == ticket,
            OutboxMail.kind == "reply",
            OutboxMail.state == state,
            OutboxMail.last_error.is_not(None),
        )
        return replies[-1] if replies else None

    return await wait_for(found, what=f"the reply, {state}")


async def _acknowledged(daemon, sink, team, who: str, subject: str) -> int:
    """A ticket `who` opened, its acknowledgement sent (so the relay's next answer is about
    the reply)."""
    ticket = await team.open_ticket(who, subject=subject)
    await wait_for_value(lambda: sink.to(team.users[who].email), what="acknowledgement")
    await wait_for(lambda: _all_sent(daemon, ticket), what="the acknowledgement recorded as sent")
    return ticket


async def _all_sent(daemon, ticket: int) -> bool:
    found = await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket)
    return bool(found) and all(r.state == "sent" for r in found)


async def test_a_reply_refused_for_good_reads_well_suppresses_and_tells_its_author(
    daemon, sink, team, live
):
    carol = team.users["carol"].email
    ticket = await _acknowledged(daemon, sink, team, "carol", "Wrong address")
    bell = await live.connect("agent1", "/ws/notifications/", query="bell=1")
    sink.refuse = "550 5.1.1 no such user"
    path = f"/api/tickets/{ticket}/messages/"
    status, _ = await team.call("agent1", "POST", path, json={"body": "We are on it."})
    assert status == 201
    failed = await _reply_row(daemon, ticket, "failed")
    assert failed.last_error == f"550 5.1.1 no such user ({carol})"  # no Python repr
    # Suppressed as a bounce would: the relay's answer, 30 days.
    [entry] = await rows(daemon, Suppression)
    assert (entry.address, entry.reason) == (carol, "550 5.1.1 no such user")
    assert (entry.ticket_id, entry.outbox_id, entry.inbound_id) == (ticket, failed.id, None)
    days = (entry.expires_at - entry.created_at).days
    assert days == daemon.desk.settings.suppression_days
    # So the next reply (and the composer) warns of her.
    sink.refuse = None
    status, answer = await team.call("agent1", "POST", path, json={"body": "Try again?"})
    assert status == 201
    [warning] = answer["warnings"]
    assert (warning["address"], warning["reason"]) == (carol, "550 5.1.1 no such user")
    # The author hears of it on the bell, live and kept, linking to the ticket; nobody else.
    said = f"Your reply on #{ticket} to {carol} was not delivered: 550 5.1.1 no such user"
    told = (await until(bell, "notification.added"))["data"]["notification"]
    assert (told["kind"], told["text"], told["ticket_id"]) == ("undelivered", said, ticket)
    await bell.close()
    _, listed = await team.call("agent1", "GET", "/api/notifications/?unread=true")
    [line] = [n for n in listed["results"] if n["kind"] == "undelivered"]
    assert (line["text"], line["ticket_id"]) == (said, ticket)
    _, bell = await team.call("agent2", "GET", "/api/notifications/")
    assert [n for n in bell["results"] if n["kind"] == "undelivered"] == []


async def test_a_temporary_or_whole_mail_refusal_suppresses_nobody(daemon, sink, team):
    """A 4xx at RCPT is retried, a 5xx to the whole mail (DATA) fails it: neither says the
    address is bad. What is recorded reads as the relay said it."""
    carol = team.users["carol"].email
    ticket = await _acknowledged(daemon, sink, team, "carol", "Busy mailbox")
    sink.refuse = "450 4.2.1 mailbox busy, try later"
    path = f"/api/tickets/{ticket}/messages/"
    assert (await team.call("agent1", "POST", path, json={"body": "One"}))[0] == 201
    waiting = await _reply_row(daemon, ticket, "pending")
    assert waiting.last_error == f"450 4.2.1 mailbox busy, try later ({carol})"
    sink.refuse = None
    sink.refuse_data = "554 5.7.1 message rejected as spam"
    failed = await _reply_row(daemon, ticket, "failed")
    assert failed.last_error == "554 5.7.1 message rejected as spam"
    assert await rows(daemon, Suppression) == []
    _, bell = await team.call("agent1", "GET", "/api/notifications/")
    [line] = [n for n in bell["results"] if n["kind"] == "undelivered"]
    assert line["text"].endswith(f"to {carol} was not delivered: {failed.last_error}")
    # The relay down: said in words too.
    await sink.stop()
    assert (await team.call("agent1", "POST", path, json={"body": "Two"}))[0] == 201
    down = await _reply_row(daemon, ticket, "pending")
    assert down.last_error == "could not connect to the relay (Connection refused)"


async def test_a_bounce_s_summary_reads_as_sentences(daemon, sink, team):
    """The returned mail named in words (never "our status_changed"), the status said once
    (never "5.1.1 550 5.1.1 ...")."""
    carol = team.users["carol"].email
    ticket = await _acknowledged(daemon, sink, team, "carol", "Bounced notice")
    path = f"/api/tickets/{ticket}/set-status/"
    status = {"status": "WAITING_ON_CUSTOMER"}
    assert (await team.call("agent1", "POST", path, json=status))[0] == 200
    [notice] = await rows(daemon, OutboxMail, OutboxMail.kind == "status_changed")
    await send(daemon.smtp_port, dsn(carol, notice.message_id), sender="")
    await settled(daemon, 1)
    failure = await _delivery_failure_on(daemon, ticket)
    said = failure.body_new
    expected = (
        f"Mail to {carol} could not be delivered: 550 5.1.1 <{carol}>: Recipient address"
        " rejected: User unknown."
    )
    assert said.splitlines()[0] == expected, said
    assert (
        f"The mail that came back is our notice of a status change ({notice.message_id})." in said
    )
    assert "status_changed" not in said and "5.1.1 550" not in said
    [entry] = await rows(daemon, Suppression)
    assert entry.reason == f"550 5.1.1 <{carol}>: Recipient address rejected: User unknown"
