"""The whole loop over real sockets: mail in by SMTP, acknowledgement and agent reply out to
a real SMTP sink, the customer's answer threaded back into the same ticket."""

from __future__ import annotations

from sqlalchemy import select

from desk.models import Ticket, TicketMessage
from tests.support import make_mail, rows, send, settled, wait_for, wait_for_value


async def _ticket_messages(daemon, ticket_id):
    return await rows(daemon, TicketMessage, TicketMessage.ticket_id == ticket_id)


async def test_mail_becomes_ticket_and_conversation_threads(daemon, api, sink, make_user, settings):
    port = daemon.smtp_port
    raw, first_id = make_mail(subject="Printer on fire", body="Please help, it is on fire.")
    await send(port, raw)
    [inbound] = await settled(daemon, 1)
    assert inbound.state == "processed" and inbound.thread_rule == "new: no thread matched"
    [ticket] = await rows(daemon, Ticket)
    assert ticket.subject == "Printer on fire" and ticket.status == "OPEN"

    # The acknowledgement reaches the relay, threaded to the customer's own mail.
    async def ack():
        return sink.to("alice@example.com")

    [ack_mail] = await wait_for(ack, what="acknowledgement")
    assert ack_mail["In-Reply-To"] == first_id
    assert first_id in ack_mail["References"]
    assert f"[#{ticket.id}]" in ack_mail["Subject"]
    assert ack_mail["Auto-Submitted"] == "auto-replied"
    assert ack_mail["X-Auto-Response-Suppress"]
    reply_to = ack_mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+") and reply_to.endswith("@localhost")
    assert ack_mail["Message-ID"] and ack_mail["Message-ID"] != first_id

    # An agent answers through the API; the answer is mailed, threaded.
    await make_user("agent@localhost", "agent")
    token = await api.token("agent@localhost", "correct horse 1")
    status, body = await api.call(
        "POST",
        f"/api/tickets/{ticket.id}/messages/",
        token,
        json={"body": "Unplug it, then call the fire brigade."},
    )
    assert status == 201, body

    async def reply():
        mails = sink.to("alice@example.com")
        return mails[1] if len(mails) > 1 else None

    reply_mail = await wait_for(reply, what="agent reply mail")
    assert reply_mail["In-Reply-To"] == first_id
    assert "Unplug it" in reply_mail.get_body(("plain",)).get_content()
    assert reply_mail["Auto-Submitted"] is None  # written by a person

    # The customer answers that mail with a changed subject and no ticket number.
    answer, _ = make_mail(
        subject="thanks!!",
        body="It worked.",
        in_reply_to=reply_mail["Message-ID"],
        references=f"{first_id} {reply_mail['Message-ID']}",
    )
    await send(port, answer)
    await settled(daemon, 2)
    messages = await _ticket_messages(daemon, ticket.id)
    assert [m.kind for m in messages] == ["inbound", "outbound", "inbound"]
    assert messages[2].thread_rule == "in-reply-to"
    assert len(await rows(daemon, Ticket)) == 1

    # A stranger who names the ticket in a subject gets a ticket of their own.
    stranger, _ = make_mail(
        sender="mallory@evil.example",
        name="Mallory",
        subject=f"Re: [#{ticket.id}] Printer on fire",
        body="let me in",
    )
    await send(port, stranger, sender="mallory@evil.example")
    [_, _, third] = await settled(daemon, 3)
    tickets = await rows(daemon, Ticket)
    assert len(tickets) == 2 and third.ticket_id == tickets[1].id
    assert "not a participant" in third.thread_rule


async def test_reply_token_threads_when_relay_rewrote_message_id(daemon, sink):
    raw, _ = make_mail(subject="Invoice question")
    await send(daemon.smtp_port, raw)
    [ack_mail] = await wait_for_value(lambda: sink.to("alice@example.com"), what="ack")
    reply_to = ack_mail["Reply-To"].addresses[0].addr_spec
    # The relay replaced our Message-ID, so In-Reply-To names nothing we know; the
    # customer's client still answers to Reply-To, which carries the token.
    answer, _ = make_mail(
        to=reply_to,
        subject="Re: something else",
        in_reply_to="<rewritten-by-relay@relay.example>",
        body="more info",
    )
    await send(daemon.smtp_port, answer, rcpt=reply_to)
    [_, second] = await settled(daemon, 2)
    assert second.thread_rule == "reply-token"
    assert len(await rows(daemon, Ticket)) == 1


async def test_forged_reply_token_opens_new_ticket(daemon, sink):
    raw, _ = make_mail(subject="first")
    await send(daemon.smtp_port, raw)
    await settled(daemon, 1)
    forged = "support+1-aaaaaaaaaaaaaaaa@localhost"
    answer, _ = make_mail(sender="mallory@evil.example", to=forged, subject="hi")
    await send(daemon.smtp_port, answer, sender="mallory@evil.example", rcpt=forged)
    [_, second] = await settled(daemon, 2)
    assert second.thread_rule == "new: no thread matched"
    assert len(await rows(daemon, Ticket)) == 2


async def test_participant_subject_reference_threads(daemon, sink):
    raw, _ = make_mail(subject="VPN broken")
    await send(daemon.smtp_port, raw)
    [first] = await settled(daemon, 1)
    again, _ = make_mail(subject=f"[#{first.ticket_id}] still broken", body="any news?")
    await send(daemon.smtp_port, again)
    [_, second] = await settled(daemon, 2)
    assert (second.ticket_id, second.thread_rule) == (first.ticket_id, "subject-reference")


async def test_internal_note_is_never_mailed(daemon, api, sink, make_user):
    raw, _ = make_mail(subject="Secret stuff")
    await send(daemon.smtp_port, raw)
    [inbound] = await settled(daemon, 1)
    await wait_for_value(lambda: sink.to("alice@example.com"), what="ack")
    await make_user("agent@localhost", "agent")
    token = await api.token("agent@localhost", "correct horse 1")
    status, body = await api.call(
        "POST",
        f"/api/tickets/{inbound.ticket_id}/messages/",
        token,
        json={"body": "customer seems confused", "is_internal": True},
    )
    assert status == 201 and body["is_internal"] is True
    async with daemon.desk.db.reader() as session:
        from desk.models import OutboxMail

        outbox = list(await session.scalars(select(OutboxMail)))
    assert [o.kind for o in outbox] == ["acknowledgement"]
    assert all("confused" not in m.as_string() for _, m in sink.messages)
