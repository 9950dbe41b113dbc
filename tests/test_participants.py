"""The conversation keeps everyone in it: whoever the customer copied gets the team's
replies in Cc and may write in; staff change To and Cc with a reply; internal notes stay in
the team; mail goes out From the support address the customer wrote to; a ticket staff open
starts with their own words; and a subject carries one ticket tag.

Mail goes in over SMTP, replies are posted over HTTP, and what went out is read from the
SMTP sink (envelope recipients and headers), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from desk.config import load_settings
from desk.db import alembic_config
from desk.errors import ConfigError
from desk.models import InboundMail, OutboxMail, Ticket, TicketChange, TicketMessage, User
from tests.people import PASSWORD
from tests.support import Sink, make_mail, rows, send, settled, wait_for_value
from tests.test_pages_signin import _client, _signed_in

# Copied from the shared cases (../shared/cases/mail/, README there) byte for byte.
CASES = Path(__file__).parent / "cases" / "mail"
# Three addresses: the default first; the 16-cc case writes to the third.
ADDRESSES = "support@localhost, help@example.test, support@example.test"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "POSTDESK_SUPPORT_ADDRESS": ADDRESSES}


async def _agent(api, make_user, email: str = "agent@localhost") -> str:
    await make_user(email, "agent", name="Ada Agent")
    return str(await api.token(email, PASSWORD))


async def _reply(api, token: str, ticket_id: int, **body: Any) -> dict[str, Any]:
    status, answer = await api.call("POST", f"/api/tickets/{ticket_id}/messages/", token, json=body)
    assert status == 201, answer
    return dict(answer)


async def _mail_in(daemon, raw: bytes, *, sender: str, rcpt: str, count: int) -> InboundMail:
    """Deliver over SMTP; wait until `count` mails are settled; the newest one."""
    await send(daemon.smtp_port, raw, sender=sender, rcpt=rcpt)
    done = await settled(daemon, count)
    newest = max(done, key=lambda m: m.id)
    assert newest.state == "processed", newest.error
    return newest


def _sent_with(sink: Sink, text: str) -> tuple[Any, Message]:
    """The one mail the sink got whose plain body holds `text`, with its envelope."""
    found = [(e, m) for e, m in sink.messages if text in m.get_body(("plain",)).get_content()]
    assert len(found) == 1, [m["Subject"] for _, m in sink.messages]
    return found[0]


async def _wait_sent(sink: Sink, text: str) -> tuple[Any, Message]:
    def check() -> bool:
        return any(text in m.get_body(("plain",)).get_content() for _, m in sink.messages)

    await wait_for_value(check, what=f"the mail saying {text!r}")
    return _sent_with(sink, text)


def _addresses(message: Message, header: str) -> list[str]:
    value = message[header]
    return [a.addr_spec for a in value.addresses] if value is not None else []


def _fill(path: Path, values: dict[str, str]) -> bytes:
    text = path.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


async def test_case_16_cc_colleague_stays_in_the_conversation(daemon, api, sink, make_user):
    """shared/cases/mail/16-cc: the colleague gets the agent's replies as Cc, her reply-all
    joins the ticket (not a new one, the customer unchanged), internal notes never reach
    her."""
    first = _fill(CASES / "16-cc" / "1.eml", {})
    inbound = await _mail_in(
        daemon, first, sender="quinn@example.com", rcpt="support@example.test", count=1
    )
    ticket_id = inbound.ticket_id
    token = await _agent(api, make_user)
    status, detail = await api.call("GET", f"/api/tickets/{ticket_id}/", token)
    assert detail["participants"] == [
        {"address": "quinn@example.com", "name": "Quinn Adler", "role": "to"},
        {"address": "rosa@example.com", "name": "Rosa Lind", "role": "cc"},
    ]
    assert detail["support_address"] == "support@example.test"

    answer = await _reply(api, token, ticket_id, body="The account is ready for Rosa.")
    assert answer["recipients"] == {"to": ["quinn@example.com"], "cc": ["rosa@example.com"]}
    envelope, reply = await _wait_sent(sink, "The account is ready for Rosa.")
    assert sorted(envelope.rcpt_tos) == ["quinn@example.com", "rosa@example.com"]
    assert _addresses(reply, "To") == ["quinn@example.com"]
    assert _addresses(reply, "Cc") == ["rosa@example.com"]
    assert _addresses(reply, "From") == ["support@example.test"]
    reply_to = _addresses(reply, "Reply-To")[0]
    assert reply_to.startswith("support+") and reply_to.endswith("@example.test")

    second = _fill(
        CASES / "16-cc" / "2.eml",
        {
            "TICKET": str(ticket_id),
            "AGENT_MSGID": reply["Message-ID"],
            "REPLY_TOKEN_ADDR": reply_to,
        },
    )
    joined = await _mail_in(daemon, second, sender="rosa@example.com", rcpt=reply_to, count=2)
    assert joined.ticket_id == ticket_id and joined.thread_rule == "in-reply-to"
    [ticket] = await rows(daemon, Ticket)  # no second ticket
    async with daemon.desk.db.reader() as session:
        quinn = await session.scalar(select(User).where(User.email == "quinn@example.com"))
    assert ticket.customer_id == quinn.id  # still Quinn's ticket
    messages = await rows(daemon, TicketMessage, TicketMessage.ticket_id == ticket_id)
    assert messages[-1].sender_email == "rosa@example.com" and messages[-1].kind == "inbound"
    assert "Sam Ortiz" in messages[-1].body_text

    note = "Internal: Rosa's company is behind on invoices."
    status, body = await api.call(
        "POST",
        f"/api/tickets/{ticket_id}/messages/",
        token,
        json={"body": note, "is_internal": True},
    )
    assert status == 201 and body["recipients"] == {"to": [], "cc": []}
    await _reply(api, token, ticket_id, body="Sam Ortiz can log in now.")
    envelope, _ = await _wait_sent(sink, "Sam Ortiz can log in now.")
    assert sorted(envelope.rcpt_tos) == ["quinn@example.com", "rosa@example.com"]
    # Every mail the desk ever queued: none carries the note, to anyone.
    queued = await rows(daemon, OutboxMail)
    assert queued and not any(note in str(row.spec) for row in queued)
    assert not any(note in m.as_string() for _, m in sink.messages)
    # Rosa's mail was a reply, not a new conversation: nobody acknowledged it.
    assert [r.kind for r in queued if r.recipient == "rosa@example.com"] == []


async def test_own_addresses_are_never_participants(daemon, api, sink, make_user):
    raw, _ = make_mail(
        sender="carl@example.com",
        name="Carl",
        to="support@localhost, Help <help@example.test>, Bob <bob@example.org>",
        headers={"Cc": "support+7-aaaaaaaaaaaaaaaa@localhost, sales@example.test, ann@example.net"},
        subject="Copied everywhere",
    )
    inbound = await _mail_in(
        daemon, raw, sender="carl@example.com", rcpt="help@example.test", count=1
    )
    token = await _agent(api, make_user)
    _, detail = await api.call("GET", f"/api/tickets/{inbound.ticket_id}/", token)
    assert [(p["address"], p["role"]) for p in detail["participants"]] == [
        ("carl@example.com", "to"),
        ("bob@example.org", "cc"),
        ("ann@example.net", "cc"),
    ]
    # The first support address in To is the one the ticket answers from.
    assert detail["support_address"] == "support@localhost"
    answer = await _reply(api, token, inbound.ticket_id, body="Answer to all of you.")
    assert answer["recipients"] == {
        "to": ["carl@example.com"],
        "cc": ["bob@example.org", "ann@example.net"],
    }
    envelope, _ = await _wait_sent(sink, "Answer to all of you.")
    assert sorted(envelope.rcpt_tos) == ["ann@example.net", "bob@example.org", "carl@example.com"]
    # Staff cannot add the desk's own addresses either.
    for own in ("help@example.test", "Desk <support+1-x@localhost>", "anyone@example.test"):
        status, body = await api.call(
            "POST",
            f"/api/tickets/{inbound.ticket_id}/messages/",
            token,
            json={"body": "x", "cc": [own]},
        )
        assert status == 400 and "cc" in body["details"]["fields"], body


async def test_to_and_cc_changes_hold_for_later_replies(daemon, api, sink, make_user):
    raw, _ = make_mail(sender="dora@example.com", name="Dora", subject="Billing address")
    inbound = await _mail_in(
        daemon, raw, sender="dora@example.com", rcpt="support@localhost", count=1
    )
    ticket_id = inbound.ticket_id
    token = await _agent(api, make_user)

    answer = await _reply(
        api, token, ticket_id, body="First.", cc=["Rosa Lind <Rosa@Example.com>", "bob@example.org"]
    )
    assert answer["recipients"] == {
        "to": ["dora@example.com"],
        "cc": ["rosa@example.com", "bob@example.org"],
    }
    _, first = await _wait_sent(sink, "First.")
    assert [str(a) for a in first["Cc"].addresses] == [
        "Rosa Lind <rosa@example.com>",
        "bob@example.org",
    ]

    answer = await _reply(api, token, ticket_id, body="Second, nothing named.")
    assert answer["recipients"]["cc"] == ["rosa@example.com", "bob@example.org"]

    answer = await _reply(
        api, token, ticket_id, body="Third, Bob taken off.", cc=["rosa@example.com"]
    )
    assert answer["recipients"] == {"to": ["dora@example.com"], "cc": ["rosa@example.com"]}
    envelope, _ = await _wait_sent(sink, "Third, Bob taken off.")
    assert sorted(envelope.rcpt_tos) == ["dora@example.com", "rosa@example.com"]

    # Rosa takes over: she is To from now on, Dora in Cc.
    answer = await _reply(
        api, token, ticket_id, body="Fourth.", to=["rosa@example.com"], cc=["dora@example.com"]
    )
    assert answer["recipients"] == {"to": ["rosa@example.com"], "cc": ["dora@example.com"]}
    _, fourth = await _wait_sent(sink, "Fourth.")
    assert _addresses(fourth, "To") == ["rosa@example.com"]
    assert _addresses(fourth, "Cc") == ["dora@example.com"]
    _, detail = await api.call("GET", f"/api/tickets/{ticket_id}/", token)
    assert [(p["address"], p["role"]) for p in detail["participants"]] == [
        ("dora@example.com", "cc"),
        ("rosa@example.com", "to"),
    ]
    changes = await rows(daemon, TicketChange, TicketChange.field == "participants")
    assert changes[-1].new_value == "to: rosa@example.com; cc: dora@example.com"

    # Dora answers all with Bob in Cc again: Bob was taken off by staff and stays off.
    again, _ = make_mail(
        sender="dora@example.com",
        subject=f"Re: [#{ticket_id}] Billing address",
        to="support@localhost",
        in_reply_to=fourth["Message-ID"],
        headers={"Cc": "bob@example.org, new@example.org"},
    )
    await _mail_in(daemon, again, sender="dora@example.com", rcpt="support@localhost", count=2)
    _, detail = await api.call("GET", f"/api/tickets/{ticket_id}/", token)
    assert [p["address"] for p in detail["participants"]] == [
        "dora@example.com",
        "rosa@example.com",
        "new@example.org",
    ]


async def test_recipient_changes_are_checked(daemon, api, sink, make_user):
    raw, _ = make_mail(sender="eve@example.com", subject="Checks")
    inbound = await _mail_in(
        daemon, raw, sender="eve@example.com", rcpt="support@localhost", count=1
    )
    path = f"/api/tickets/{inbound.ticket_id}/messages/"
    token = await _agent(api, make_user)
    bad = [
        {"cc": ["rosa@example.com\r\nBcc: spy@example.org"]},
        {"cc": ["Rosa\r\nBcc: spy@example.org <rosa@example.com>"]},
        {"cc": ["rosa@example.com, spy@example.org"]},
        {"cc": ['"Rosa" <rosa@example.com>, <spy@example.org>']},
        {"cc": ["not an address"]},
        {"to": []},
        {"to": ["eve@example.com"], "is_internal": True},
        {"cc": ["rosa@example.com"], "is_internal": True},
    ]
    for extra in bad:
        status, body = await api.call("POST", path, token, json={"body": "x", **extra})
        field = "cc" if "cc" in extra else "to"
        assert status == 400 and field in body["details"]["fields"], (extra, body)
    # Nothing of that was written or queued: only the acknowledgement is in the outbox.
    assert [r.kind for r in await rows(daemon, OutboxMail)] == ["acknowledgement"]
    messages = await rows(daemon, TicketMessage, TicketMessage.ticket_id == inbound.ticket_id)
    assert len(messages) == 1
    # A customer's own message is never mailed to people they name.
    await make_user("zed@example.com", "customer")
    zed = await api.token("zed@example.com", PASSWORD)
    status, own = await api.call(
        "POST", "/api/tickets/", zed, json={"subject": "Mine", "description": "Help."}
    )
    assert status == 201, own
    status, body = await api.call(
        "POST", f"/api/tickets/{own['id']}/messages/", zed, json={"body": "x", "cc": ["a@b.org"]}
    )
    assert status == 400 and "cc" in body["details"]["fields"]


async def test_mail_goes_out_from_the_address_the_customer_wrote_to(daemon, api, sink, make_user):
    raw, _ = make_mail(sender="finn@example.com", to="help@example.test", subject="Which desk?")
    inbound = await _mail_in(
        daemon, raw, sender="finn@example.com", rcpt="help@example.test", count=1
    )
    ticket_id = inbound.ticket_id
    [ack] = await wait_for_value(lambda: sink.to("finn@example.com"), what="acknowledgement")
    assert _addresses(ack, "From") == ["help@example.test"]
    token_address = _addresses(ack, "Reply-To")[0]
    assert token_address.startswith(f"help+{ticket_id}-") and token_address.endswith(
        "@example.test"
    )

    token = await _agent(api, make_user)
    await _reply(api, token, ticket_id, body="Answered from help.")
    _, reply = await _wait_sent(sink, "Answered from help.")
    assert _addresses(reply, "From") == ["help@example.test"]
    assert _addresses(reply, "Reply-To") == [token_address]

    # The customer answers the reply address alone (no threading headers): it threads.
    answer, _ = make_mail(sender="finn@example.com", to=token_address, subject="more")
    threaded = await _mail_in(
        daemon, answer, sender="finn@example.com", rcpt=token_address, count=2
    )
    assert threaded.ticket_id == ticket_id and threaded.thread_rule == "reply-token"

    # Mail to the default address answers from the default.
    raw, _ = make_mail(sender="gil@example.com", subject="Default desk")
    other = await _mail_in(daemon, raw, sender="gil@example.com", rcpt="support@localhost", count=3)
    [ack] = await wait_for_value(lambda: sink.to("gil@example.com"), what="acknowledgement")
    assert _addresses(ack, "From") == ["support@localhost"]
    assert other.ticket_id != ticket_id


async def test_ticket_staff_open_starts_with_their_words(daemon, api, sink, make_user):
    token = await _agent(api, make_user)
    status, created = await api.call(
        "POST",
        "/api/tickets/",
        token,
        json={
            "subject": "Your replacement laptop",
            "description": "Hello Hana, your laptop ships tomorrow.",
            "customer_email": "Hana@Example.com",
        },
    )
    assert status == 201, created
    ticket_id = created["id"]
    [first] = await wait_for_value(lambda: sink.to("hana@example.com"), what="the first mail")
    assert "your laptop ships tomorrow" in first.get_body(("plain",)).get_content()
    assert first["Subject"] == f"[#{ticket_id}] Your replacement laptop"
    assert first["Auto-Submitted"] is None and first["In-Reply-To"] is None
    assert _addresses(first, "From") == ["support@localhost"]
    assert _addresses(first, "Reply-To")[0].startswith(f"support+{ticket_id}-")
    # No acknowledgement: the agent's text is the only mail.
    assert [r.kind for r in await rows(daemon, OutboxMail)] == ["reply"]
    message = created["messages"][0]
    assert message["kind"] == "outbound" and message["message_id"] == first["Message-ID"]
    assert created["participants"] == [{"address": "hana@example.com", "name": "", "role": "to"}]

    # Hana's answer threads into the ticket.
    answer, _ = make_mail(
        sender="hana@example.com",
        subject=f"Re: {first['Subject']}",
        in_reply_to=first["Message-ID"],
        references=first["Message-ID"],
    )
    threaded = await _mail_in(
        daemon, answer, sender="hana@example.com", rcpt="support@localhost", count=1
    )
    assert threaded.ticket_id == ticket_id and threaded.thread_rule == "in-reply-to"

    # Staff may copy people from the first mail on; a customer may not.
    status, copied = await api.call(
        "POST",
        "/api/tickets/",
        token,
        json={
            "subject": "Your order",
            "description": "Your order has shipped; Ian in copy.",
            "customer_email": "hana@example.com",
            "cc": ["Ian Inn <ian@example.com>"],
        },
    )
    assert status == 201, copied
    envelope, mail = await _wait_sent(sink, "Your order has shipped")
    assert sorted(envelope.rcpt_tos) == ["hana@example.com", "ian@example.com"]
    assert _addresses(mail, "Cc") == ["ian@example.com"]
    assert [p["role"] for p in copied["participants"]] == ["to", "cc"]
    await make_user("jo@example.com", "customer")
    jo = await api.token("jo@example.com", PASSWORD)
    body = {"subject": "x", "description": "y", "cc": ["ian@example.com"]}
    status, refused = await api.call("POST", "/api/tickets/", jo, json=body)
    assert status == 400 and "cc" in refused["details"]["fields"]


async def test_reply_to_a_closed_ticket_carries_one_tag(daemon, api, sink, make_user):
    raw, first_id = make_mail(sender="ivy@example.com", subject="Printer jammed")
    old = await _mail_in(daemon, raw, sender="ivy@example.com", rcpt="support@localhost", count=1)
    token = await _agent(api, make_user)
    status, body = await api.call(
        "POST", f"/api/tickets/{old.ticket_id}/set-status/", token, json={"status": "CLOSED"}
    )
    assert status == 200, body
    again, _ = make_mail(
        sender="ivy@example.com",
        subject=f"AW: Re: [#{old.ticket_id}] Printer jammed",
        in_reply_to=first_id,
    )
    new = await _mail_in(daemon, again, sender="ivy@example.com", rcpt="support@localhost", count=2)
    assert new.ticket_id != old.ticket_id
    # A conversation of its own, named as the first was, linked to it.
    [follow_up] = await rows(daemon, Ticket, Ticket.id == new.ticket_id)
    assert follow_up.subject == "Printer jammed"
    assert follow_up.linked_ticket_id == old.ticket_id

    def ack_of_new() -> Message | None:
        found = [m for m in sink.to("ivy@example.com") if f"[#{new.ticket_id}]" in m["Subject"]]
        return found[0] if found else None

    ack = await wait_for_value(ack_of_new, what="acknowledgement of the new ticket")
    assert ack["Subject"] == f"[#{new.ticket_id}] Printer jammed"
    await _reply(api, token, new.ticket_id, body="Jam cleared.")
    _, reply = await _wait_sent(sink, "Jam cleared.")
    assert reply["Subject"] == f"Re: [#{new.ticket_id}] Printer jammed"


async def test_participant_threads_by_subject_tag(daemon, api, sink, make_user):
    """A participant writing fresh mail (no threading headers) with the ticket's tag joins
    it, as the customer would; a stranger with the same tag opens a ticket of their own."""
    raw, _ = make_mail(
        sender="jon@example.com", subject="VPN down", headers={"Cc": "kim@example.com"}
    )
    first = await _mail_in(daemon, raw, sender="jon@example.com", rcpt="support@localhost", count=1)
    token = await _agent(api, make_user)
    path = f"/api/tickets/{first.ticket_id}/set-status/"
    status, body = await api.call("POST", path, token, json={"status": "RESOLVED"})
    assert status == 200, body
    tag = f"[#{first.ticket_id}]"
    kim, _ = make_mail(sender="kim@example.com", subject=f"{tag} still down here")
    joined = await _mail_in(
        daemon, kim, sender="kim@example.com", rcpt="support@localhost", count=2
    )
    assert joined.ticket_id == first.ticket_id and joined.thread_rule == "subject-reference"
    # She writes as the customer would: the resolved ticket is open again.
    [ticket] = await rows(daemon, Ticket, Ticket.id == first.ticket_id)
    assert ticket.status == "OPEN"
    stranger, _ = make_mail(sender="lou@example.org", subject=f"{tag} me too")
    apart = await _mail_in(
        daemon, stranger, sender="lou@example.org", rcpt="support@localhost", count=3
    )
    assert apart.ticket_id != first.ticket_id


async def test_a_stranger_holding_a_message_id_is_kept_out_of_the_conversation(
    daemon, api, sink, make_user
):
    """Whoever holds a Message-ID of the conversation (every copy of a mail carries it,
    forwarded ones too) threads their mail into the ticket, but neither they nor the
    people they copied are added: the team's next replies still go to the customer only,
    and the page says why (F1 of the hostile-mail tester)."""
    raw, _ = make_mail(sender="vic@example.com", subject="My invoice", body="Invoice 42 is wrong.")
    first = await _mail_in(daemon, raw, sender="vic@example.com", rcpt="support@localhost", count=1)
    token = await _agent(api, make_user)
    await _reply(api, token, first.ticket_id, body="We are checking invoice 42.")
    _, answer = await _wait_sent(sink, "We are checking invoice 42.")
    for n, header in enumerate(("In-Reply-To", "References"), start=2):
        stranger, _ = make_mail(
            sender="mallory@example.net",
            subject="hello",
            body=f"Send me the invoice too ({header}).",
            headers={header: answer["Message-ID"], "Cc": "eve@example.net"},
        )
        placed = await _mail_in(
            daemon, stranger, sender="mallory@example.net", rcpt="support@localhost", count=n
        )
        assert placed.ticket_id == first.ticket_id, header  # the team sees it
        assert placed.thread_rule == header.lower()
    status, detail = await api.call("GET", f"/api/tickets/{first.ticket_id}/", token)
    assert status == 200
    assert [p["address"] for p in detail["participants"]] == ["vic@example.com"]
    sent = await _reply(api, token, first.ticket_id, body="Corrected invoice attached.")
    assert sent["recipients"] == {"to": ["vic@example.com"], "cc": []}
    envelope, _ = await _wait_sent(sink, "Corrected invoice attached.")
    assert envelope.rcpt_tos == ["vic@example.com"]
    # The conversation page tells the agent why Mallory gets no reply.
    async with _client() as http:
        await _signed_in(http, api.base, "agent@localhost")
        async with http.get(f"{api.base}/app/tickets/{first.ticket_id}/") as r:
            page = await r.text()
    assert page.count("mallory@example.net is not in this conversation") == 2
    assert "vic@example.com is not in this conversation" not in page

    # A participant's reply-all still brings the people they copy in.
    joined, _ = make_mail(
        sender="vic@example.com",
        subject="Re: My invoice",
        body="Adding my accountant.",
        in_reply_to=answer["Message-ID"],
        headers={"Cc": "Acc Ountant <acc@example.com>"},
    )
    await _mail_in(daemon, joined, sender="vic@example.com", rcpt="support@localhost", count=4)
    status, detail = await api.call("GET", f"/api/tickets/{first.ticket_id}/", token)
    assert status == 200
    assert [p["address"] for p in detail["participants"]] == ["vic@example.com", "acc@example.com"]


def test_support_address_setting_takes_one_or_several(tmp_path):
    def load(value: str):
        env = {"POSTDESK_DATA_DIR": str(tmp_path), "POSTDESK_SUPPORT_ADDRESS": value}
        return load_settings(env, read_dotenv=False)

    one = load("Support@Example.com")
    assert one.support_address == "support@example.com"
    assert one.support_addresses == ("support@example.com",)
    several = load(" help@a.example , support@b.example,help@a.example")
    assert several.support_address == "help@a.example"
    assert several.support_addresses == ("help@a.example", "support@b.example")
    assert several.accepted_domains == {"a.example", "b.example"}
    assert several.support_address_for("help+12-abc@A.example") == "help@a.example"
    assert several.support_address_for("sales@a.example") is None
    assert several.is_own_address("sales@a.example")
    for bad in ("help@a.example,", "not-an-address", "a@b.example, x y@c.example", "s+x@a.example"):
        with pytest.raises(ConfigError):
            load(bad)


def _migrate(connection: Any, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.mark.empty_database
async def test_migration_makes_each_customer_a_participant(database_url, tmp_path):
    """Tickets from before 0017 get their customer as their one participant (in To), so
    replies to them keep going where they went; the downgrade takes it all away again."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0014")
            await conn.run_sync(_old_ticket)
            await conn.run_sync(_migrate, "0017")
            found = await conn.execute(
                sa.text(
                    "SELECT t.id, p.address, p.name, p.role, p.removed_at, t.support_address"
                    " FROM ticket_participants p JOIN tickets t ON t.id = p.ticket_id"
                )
            )
            assert [tuple(r) for r in found] == [
                (1, "old@example.com", "Old Customer", "to", None, None)
            ]
            await conn.run_sync(_migrate, "0014", down=True)
            columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("tickets"))
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "support_address" not in {c["name"] for c in columns}
        assert "ticket_participants" not in tables
    finally:
        await engine.dispose()


def _old_ticket(connection: Any) -> None:
    """A customer and a ticket as schema 0014 stores them."""
    now = datetime.now(UTC)
    connection.execute(
        User.__table__.insert().values(id=1, email="old@example.com", name="Old Customer")
    )
    tickets = sa.Table("tickets", sa.MetaData(), autoload_with=connection)
    connection.execute(
        tickets.insert().values(
            id=1,
            subject="From before",
            status="OPEN",
            priority="MEDIUM",
            customer_id=1,
            created_at=now,
            updated_at=now,
        )
    )
