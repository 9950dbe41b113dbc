"""Real-world mail through real SMTP, read back through the API as an agent sees it: the
cases of ../shared/cases/mail/ (07, 09, 18, 20, 30, 31) and inputs of our own (Japanese with
NEC extensions, HTML-only, winmail.dat, invitations, forwards, S/MIME, nameless inline
images, a mail of 10,000 parts, malformed ids, long subjects)."""

from __future__ import annotations

import re
from typing import Any

import aiosmtplib

from desk.models import InboundMail
from tests import mail_samples as samples
from tests.conftest import SHARED
from tests.people import Team
from tests.support import make_mail, send, wait_for_value
from tests.test_hostile_mail import deliver, settled_one

WELL_FORMED_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


async def _ticket(team: Team, inbound: InboundMail) -> dict[str, Any]:
    assert inbound.state == "processed", inbound.error
    status, ticket = await team.call("admin", "GET", f"/api/tickets/{inbound.ticket_id}/")
    assert status == 200, ticket
    return ticket


async def _message(daemon, team: Team, raw: bytes, sender: str) -> dict[str, Any]:
    """Send `raw` over SMTP; the ticket message it became, as the API shows it."""
    inbound = await deliver(daemon, raw, sender=sender)
    ticket = await _ticket(team, inbound)
    [message] = [m for m in ticket["messages"] if m["message_id"] == inbound.message_id]
    return message


def _named(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["filename"]: a for a in message["attachments"]}


@SHARED
async def test_iso_2022_jp_reads_in_japanese(shared_daemon, shared_team):
    case = await _message(
        shared_daemon, shared_team, samples.case_bytes("07-iso-2022-jp"), "sato@example.jp"
    )
    assert case["subject"] == "請求書について"
    assert case["body"] == "お世話になっております。\n請求書を確認しました。\n佐藤"
    own = await _message(shared_daemon, shared_team, samples.japanese(), "tanaka@example.jp")
    # NEC extensions (①, ㈱) as Japanese Windows writes them; a subject in two words.
    assert own["body"] == "①請求書の件です。\n㈱サンプル 田中"
    assert own["subject"] == "請求書について" and "\x1b" not in own["body_text"]


@SHARED
async def test_undeclared_windows_1252_reads_without_replacement_characters(
    shared_daemon, shared_team
):
    case = await _message(
        shared_daemon,
        shared_team,
        samples.case_bytes("09-cp1252-undeclared"),
        "rene@example.de",
    )
    assert case["body"] == "Grüße aus Köln \N{EN DASH} die Rechnung über 120 € ist „falsch“."
    raw = (
        b"From: ana@example.es\r\nSubject: Factura\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Se\xf1or Garc\xeda, la factura est\xe1 mal.\r\n"
    )
    own = await _message(shared_daemon, shared_team, raw, "ana@example.es")
    assert own["body"] == "Señor García, la factura está mal."


async def _search(team: Team, q: str) -> list[int]:
    status, body = await team.call("admin", "GET", "/api/tickets/search/", params={"q": q})
    assert status == 200, body
    return [r["id"] for r in body["results"]]


@SHARED
async def test_html_only_mail_keeps_its_layout_and_is_found(shared_daemon, shared_team):
    inbound = await deliver(
        shared_daemon, samples.case_bytes("18-html-only"), sender="uma@example.com"
    )
    [case] = (await _ticket(shared_team, inbound))["messages"]
    assert case["body"].startswith("Uploading files fails with error 413.\n\nThanks,\nUma")
    for hidden in ("Untitled document", "MsoNormal", "alert", "WordSection1", "shapedefaults"):
        assert hidden not in case["body_text"]
    html = case["body_html"]
    assert "<script" not in html and "javascript:" not in html and "<title" not in html
    assert "Uploading files fails" in html
    assert inbound.ticket_id in await _search(shared_team, "Uploading")

    own_inbound = await deliver(shared_daemon, samples.html_only(), sender="html@example.com")
    [own] = (await _ticket(shared_team, own_inbound))["messages"]
    assert own["body_text"] == (
        "First paragraph about the quokka.\n\nLine one\nLine two\n\n"
        "  * apples\n  * pears\n\nSee [the guide](https://docs.example.com/upload)."
    )
    assert own_inbound.ticket_id in await _search(shared_team, "quokka")


@SHARED
async def test_calendar_invitation_is_summarised_and_kept(shared_daemon, shared_team):
    case = await _message(
        shared_daemon, shared_team, samples.case_bytes("20-calendar"), "xena@example.com"
    )
    assert case["body"] == (
        "[Invitation: Incident review, Thu 3 Dec 2026 14:00\N{EN DASH}14:30 "
        "(W. Europe Standard Time), at Teams]"
    )
    [ics] = case["attachments"]
    assert ics["filename"].endswith(".ics") and ics["content_type"] == "text/calendar"
    own = await _message(
        shared_daemon, shared_team, samples.invitation_with_text(), "cal@example.com"
    )
    assert own["body"].startswith("You are invited to the quarterly review.")
    assert (
        "[Invitation: Quarterly review, Thu 10 Dec 2026 09:00\N{EN DASH}10:00 (UTC), at Room 4]"
        in (own["body"])
    )
    assert list(_named(own)) == ["invite.ics"]


@SHARED
async def test_truncated_attachment_is_kept_damaged(shared_daemon, shared_team):
    case = await _message(
        shared_daemon,
        shared_team,
        samples.case_bytes("30-truncated-attachment"),
        "pat@example.com",
    )
    assert case["body"].startswith("Please find the signed contract attached.")
    pdf = _named(case)["contract.pdf"]
    assert pdf["damaged"] is True and "base64" in pdf["damage_reason"]
    status, data = await shared_team.call("admin", "GET", f"/api/attachments/{pdf['id']}/")
    assert status == 200 and data.startswith(b"%PDF-1.4") and len(data) == pdf["size"] > 500


@SHARED
async def test_part_in_an_unknown_transfer_encoding_is_marked(shared_daemon, shared_team):
    raw = (
        b"From: odd@example.com\r\nSubject: Odd encodings\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nnuqneH, the printer\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
        b"Content-Transfer-Encoding: x-gzip64\r\n\r\nH4sIAAAA\r\n--b--\r\n"
    )
    message = await _message(shared_daemon, shared_team, raw, "odd@example.com")
    assert message["body"] == "nuqneH, the printer"
    data = _named(message)["data.bin"]
    assert data["damaged"] is True and "x-gzip64" in data["damage_reason"]


@SHARED
async def test_forwarded_message_is_an_attachment_with_its_files(shared_daemon, shared_team):
    message = await _message(shared_daemon, shared_team, samples.forwarded(), "fwd@example.com")
    assert message["body"].startswith("Customer words: please look at the forwarded mail.")
    assert "INNER TEXT" not in message["body_text"]
    assert "Forwarded message attached as Original problem.eml" in message["body"]
    files = _named(message)
    eml = files["Original problem.eml"]
    assert eml["content_type"] == "message/rfc822" and eml["forwarded_in"] is None
    assert files["log.txt"]["forwarded_in"] == eml["id"]  # the forward's file, not hers
    assert files["own.pdf"]["forwarded_in"] is None
    status, data = await shared_team.call("admin", "GET", f"/api/attachments/{eml['id']}/")
    assert status == 200 and b"INNER TEXT" in data and b"Subject: Original problem" in data


@SHARED
async def test_winmail_dat_is_unpacked(shared_daemon, shared_team):
    message = await _message(
        shared_daemon, shared_team, samples.outlook_tnef(), "outlook@example.com"
    )
    assert message["body"] == "Please see the attached report."
    files = _named(message)
    assert set(files) == {"report.pdf", "notes.txt"}
    assert files["report.pdf"]["content_type"] == "application/pdf"
    status, data = await shared_team.call(
        "admin", "GET", f"/api/attachments/{files['report.pdf']['id']}/"
    )
    assert status == 200 and data == b"%PDF-1.4 tnef report"
    body_only = await _message(
        shared_daemon,
        shared_team,
        samples.outlook_tnef("tnefbody@example.com", body="The text is only in TNEF."),
        "tnefbody@example.com",
    )
    assert body_only["body"] == "The text is only in TNEF."


@SHARED
async def test_smime_signed_content_shows_and_encrypted_is_kept(shared_daemon, shared_team):
    for subtype in ("pkcs7-mime", "x-pkcs7-mime"):
        signed = await _message(
            shared_daemon,
            shared_team,
            samples.smime_signed(f"{subtype}@example.com", subtype),
            f"{subtype}@example.com",
        )
        assert signed["body"].startswith(samples.SIGNED_TEXT)
        assert "signature was not verified" in signed["body"]
        assert list(_named(signed)) == ["inside.txt"]
    encrypted = await _message(
        shared_daemon, shared_team, samples.smime_encrypted(), "secret@example.com"
    )
    assert "encrypted with S/MIME" in encrypted["body"]
    assert _named(encrypted)["smime.p7m"]["content_type"] == "application/pkcs7-mime"


@SHARED
async def test_inline_images_without_names_are_named_by_type(shared_daemon, shared_team):
    message = await _message(shared_daemon, shared_team, samples.inline_images(), "img@example.com")
    files = _named(message)
    assert set(files) == {"image-1.png", "image-2.jpg"}
    assert all(f["is_inline"] for f in files.values())
    assert files["image-1.png"]["content_id"] == "<shot1>"


@SHARED
async def test_long_subject_is_cut_at_a_word(shared_daemon, shared_team):
    words = " ".join(f"word{i}" for i in range(80))
    raw, _ = make_mail(sender="long@example.com", subject=words)
    message = await _message(shared_daemon, shared_team, raw, "long@example.com")
    subject = message["subject"]
    assert len(subject) <= 250 and subject.endswith("…")
    assert words.startswith(subject[:-1]) and words[len(subject) - 1] == " "


@SHARED
async def test_ten_thousand_parts_do_not_stall_intake(shared_daemon, shared_team):
    _, reply = await send(
        shared_daemon.smtp_port, samples.many_parts(10_000), sender="parts@example.com"
    )
    heavy_id = int(reply.rsplit(" ", 1)[1])
    raw, _ = make_mail(sender="after@example.com", subject="Right after")
    normal = await _message(shared_daemon, shared_team, raw, "after@example.com")
    assert normal["body"] == "Hello, my printer is on fire."
    [heavy] = await _settled(shared_daemon, heavy_id)
    ticket = await _ticket(shared_team, heavy)
    [message] = ticket["messages"]
    assert "10000 MIME parts" in message["body"] and message["subject"] == "Many parts"
    assert [a["filename"] for a in message["attachments"]] == ["message.eml"]
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=shared_daemon.smtp_port) as client:
        assert (await client.noop())[0] == 250


async def _settled(daemon, inbound_id: int) -> list[InboundMail]:
    return [await settled_one(daemon, inbound_id)]


def _thread_ids(mail: Any) -> list[str]:
    values = [str(mail.get("In-Reply-To") or ""), str(mail.get("References") or "")]
    return [v for value in values for v in value.split()]


async def test_two_message_ids_one_id_stored_and_sent_on(daemon, sink, team):
    inbound = await deliver(daemon, samples.case_bytes("31-two-message-ids"), "lee@example.com")
    ticket = await _ticket(team, inbound)
    [first] = ticket["messages"]
    assert first["message_id"] == "<20261129090500.1@client.example.com>"
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{ticket['id']}/messages/", json={"body": "On it."}
    )
    assert status == 201
    mails = await wait_for_value(
        lambda: len(sink.to("lee@example.com")) >= 2 and sink.to("lee@example.com")
    )
    for mail in mails:  # the acknowledgement and the agent's reply
        assert WELL_FORMED_ID.match(str(mail["In-Reply-To"])), mail["In-Reply-To"]
        assert all(WELL_FORMED_ID.match(i) for i in _thread_ids(mail))
    # The customer's answer to the agent's mail threads into the same ticket.
    reply, _ = make_mail(
        sender="lee@example.com",
        subject="Re: Two ids",
        in_reply_to=str(mails[-1]["Message-ID"]),
    )
    answer = await deliver(daemon, reply, "lee@example.com")
    assert answer.ticket_id == ticket["id"]


async def test_a_reply_to_any_of_a_mails_message_ids_threads(daemon, sink, team):
    """Case 31's other half: the customer's own client knows the mail by its second id
    (the one the mail tool added), and a reply quoting only that one joins the ticket."""
    inbound = await deliver(daemon, samples.case_bytes("31-two-message-ids"), "lee@example.com")
    ticket = await _ticket(team, inbound)
    [ack] = await wait_for_value(lambda: sink.to("lee@example.com"))
    assert str(ack["In-Reply-To"]) == "<20261129090500.1@client.example.com>"  # the first id
    by_in_reply_to, _ = make_mail(
        sender="lee@example.com", subject="Re: Two ids", in_reply_to="<s31@example.com>"
    )
    answer = await deliver(daemon, by_in_reply_to, "lee@example.com")
    assert (answer.ticket_id, answer.thread_rule) == (ticket["id"], "in-reply-to")
    # Our own input: three Message-ID headers, the middle one malformed, a reply that names
    # the third in References only, sent by a colleague in the same company.
    raw = (
        b"From: Mia Chen <mia@example.org>\r\nTo: support@localhost\r\nSubject: Invoice\r\n"
        b"Message-ID: <first.1@mua.example.org>\r\nMessage-ID: <not an id>\r\n"
        b"Message-ID: <third.3@gateway.example.org>\r\n\r\nWhere is my invoice?\r\n"
    )
    second = await _ticket(team, await deliver(daemon, raw, "mia@example.org"))
    assert [m["message_id"] for m in second["messages"]] == ["<first.1@mua.example.org>"]
    by_references, _ = make_mail(
        sender="mia@example.org",
        subject="Invoice again",
        references="<unknown@elsewhere.example> <third.3@gateway.example.org>",
    )
    answer = await deliver(daemon, by_references, "mia@example.org")
    assert (answer.ticket_id, answer.thread_rule) == (second["id"], "references")
    [ack] = await wait_for_value(lambda: sink.to("mia@example.org"))
    assert str(ack["In-Reply-To"]) == "<first.1@mua.example.org>"


async def test_malformed_thread_headers_never_leak(daemon, sink, team):
    raw = (  # written by hand: the email package refuses to build such headers
        b"From: mal@example.com\r\nTo: support@localhost\r\nSubject: Malformed\r\n"
        b"Message-ID: <['<a1@x.example>', '<b2@y.example>']>\r\n"
        b"In-Reply-To: <not an id> garbage\r\n"
        b"References: junk <ok@x.example> <bad id> <'quoted'>\r\n\r\nhello\r\n"
    )
    inbound = await deliver(daemon, raw, "mal@example.com")
    ticket = await _ticket(team, inbound)
    [message] = ticket["messages"]
    assert message["message_id"] == "<a1@x.example>"
    [ack] = await wait_for_value(lambda: sink.to("mal@example.com"))
    assert str(ack["In-Reply-To"]) == "<a1@x.example>"
    assert all(WELL_FORMED_ID.match(i) for i in _thread_ids(ack))
