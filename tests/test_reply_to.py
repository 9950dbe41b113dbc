"""Mail sent on someone's behalf (a contact form, a shop's no-reply robot, a mailing list
that rewrites From) names the person in Reply-To: they are the customer, the one the desk
acknowledges and answers (RFC 5322 3.6.2). Over SMTP in, the API and the relay sink out."""

from __future__ import annotations

from email.message import Message
from typing import Any

from desk.models import InboundMail, Ticket, User
from tests.people import PASSWORD
from tests.support import make_mail, rows, send, settled, wait_for_value


async def _mail_in(daemon, raw: bytes, *, sender: str, count: int) -> InboundMail:
    await send(daemon.smtp_port, raw, sender=sender)
    newest = max(await settled(daemon, count), key=lambda m: m.id)
    assert newest.state == "processed", newest.error
    return newest


async def _customer_of(daemon, ticket_id: int) -> User:
    [ticket] = await rows(daemon, Ticket, Ticket.id == ticket_id)
    [customer] = await rows(daemon, User, User.id == ticket.customer_id)
    return customer


def _to(message: Message) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]


async def test_a_contact_form_s_mail_is_the_customer_s_own(daemon, api, sink, make_user):
    raw, _ = make_mail(
        sender="noreply@shop.example",
        name="Shop Website",
        subject="Contact form: where is my order?",
        body="Order 7781 has not arrived.",
        headers={"Reply-To": "Jane Doe <Jane@Example.com>"},
    )
    inbound = await _mail_in(daemon, raw, sender="noreply@shop.example", count=1)
    jane = await _customer_of(daemon, inbound.ticket_id)
    assert (jane.email, jane.name) == ("jane@example.com", "Jane Doe")
    assert await rows(daemon, User, User.email == "noreply@shop.example") == []
    [_ack] = await wait_for_value(lambda: sink.to("jane@example.com"), what="the acknowledgement")
    assert sink.to("noreply@shop.example") == []

    await make_user("agent@localhost", "agent", name="Ada Agent")
    token = await api.token("agent@localhost", PASSWORD)
    status, detail = await api.call("GET", f"/api/tickets/{inbound.ticket_id}/", token)
    assert status == 200
    assert [p["address"] for p in detail["participants"]] == ["jane@example.com"]
    [message] = detail["messages"]
    assert message["sender_email"] == "jane@example.com"
    assert "Order 7781" in message["body"]
    assert (
        "Sent by Shop Website <noreply@shop.example> with Reply-To jane@example.com"
        in (message["body_text"])
    )
    status, sent = await api.call(
        "POST",
        f"/api/tickets/{inbound.ticket_id}/messages/",
        token,
        json={"body": "It left the warehouse today."},
    )
    assert status == 201 and sent["recipients"] == {"to": ["jane@example.com"], "cc": []}

    def reply() -> list[Any]:
        return [m for m in sink.to("jane@example.com") if m["Subject"].startswith("Re:")]

    [answer] = await wait_for_value(reply, what="the agent's reply")
    assert _to(answer) == ["jane@example.com"]

    # Her answer to the reply threads as hers; a second form mail of hers is hers too.
    again, _ = make_mail(
        sender="jane@example.com",
        subject="Re: thanks",
        in_reply_to=answer["Message-ID"],
    )
    threaded = await _mail_in(daemon, again, sender="jane@example.com", count=2)
    assert threaded.ticket_id == inbound.ticket_id


async def test_a_form_sending_from_the_desk_s_own_address_is_not_taken_for_a_loop(daemon, sink):
    raw, _ = make_mail(
        sender="support@localhost",
        name="Website",
        subject="Contact form",
        headers={"Reply-To": "kim@example.com"},
    )
    inbound = await _mail_in(daemon, raw, sender="support@localhost", count=1)
    assert (await _customer_of(daemon, inbound.ticket_id)).email == "kim@example.com"
    await wait_for_value(lambda: sink.to("kim@example.com"), what="the acknowledgement")


async def test_the_desk_s_own_reply_address_in_reply_to_keeps_a_loop_a_loop(daemon):
    raw, _ = make_mail(
        sender="support@localhost",
        subject="Re: [#1] Printer",
        headers={"Reply-To": "support+1-abc@localhost"},
    )
    await send(daemon.smtp_port, raw, sender="support@localhost")
    [stored] = await settled(daemon, 1)
    assert stored.state == "ignored" and "own address" in stored.error
    assert await rows(daemon, Ticket) == []


async def test_several_reply_to_addresses_leave_the_sender_as_the_customer(daemon):
    raw, _ = make_mail(
        sender="lee@example.com",
        subject="Two of us",
        headers={"Reply-To": "a@example.com, b@example.com"},
    )
    inbound = await _mail_in(daemon, raw, sender="lee@example.com", count=1)
    assert (await _customer_of(daemon, inbound.ticket_id)).email == "lee@example.com"


async def test_the_desk_s_own_address_beside_one_person_in_reply_to_names_her(daemon):
    raw, _ = make_mail(
        sender="noreply@shop.example",
        subject="Form with a copy to the desk",
        headers={"Reply-To": "support@localhost, Jill <jill@example.com>"},
    )
    inbound = await _mail_in(daemon, raw, sender="noreply@shop.example", count=1)
    assert (await _customer_of(daemon, inbound.ticket_id)).email == "jill@example.com"
