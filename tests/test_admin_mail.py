"""The admin console's mail endpoints over HTTP: stored inbound mail (failed and damaged
first, the reason, the headers and source, what it became and by which threading rule;
retry) and the outbox (failed mail with its error; retry), against a real daemon with a
real SMTP relay sink. `postdesk inbound show` prints the same record (tests/
test_cli_operations.py)."""

from __future__ import annotations

from desk.models import InboundMail, OutboxMail
from tests.people import Team
from tests.support import make_mail, rows, send, settled, wait_for, wait_for_value

BROKEN = b"Subject: nobody wrote this\r\nX-Note: a\r\n\r\nbody\r\n"  # no sender anywhere
DAMAGED = (
    b"From: Dora <dora@example.com>\r\nTo: support@localhost\r\nSubject: scan attached\r\n"
    b"Message-ID: <damaged-1@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nHere is the scan.\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="scan.pdf"\r\n\r\nQUJDR\r\n--b--\r\n'
)


async def _three_mails(daemon) -> dict[str, int]:
    """A good mail and its reply, a mail that fails, one with a damaged attachment."""
    good, mid = make_mail(subject="Printer on fire")
    await send(daemon.smtp_port, good)
    await settled(daemon, 1)
    reply, _ = make_mail(subject="Re: Printer on fire", in_reply_to=mid, references=mid)
    await send(daemon.smtp_port, reply)
    await send(daemon.smtp_port, BROKEN, sender="")
    await send(daemon.smtp_port, DAMAGED, sender="dora@example.com")
    done = await settled(daemon, 4)
    return {
        "good": done[0].id,
        "reply": done[1].id,
        "failed": next(r.id for r in done if r.state == "failed"),
        "damaged": next(r.id for r in done if r.message_id == "<damaged-1@example.com>"),
    }


async def test_inbound_list_puts_failed_then_damaged_first(team: Team, daemon):
    ids = await _three_mails(daemon)
    status, listed = await team.call("admin", "GET", "/api/admin/inbound/")
    assert status == 200 and listed["count"] == 4
    order = [m["id"] for m in listed["results"]]
    assert order == [ids["failed"], ids["damaged"], ids["reply"], ids["good"]]
    first = listed["results"][0]
    assert first["state"] == "failed" and "no usable sender" in first["error"]
    assert first["ticket_id"] is None and first["damaged"] is False
    assert listed["results"][1]["damaged"] is True and listed["results"][1]["state"] == "processed"
    # The list says why, as the detail does: the attachment's damage (here its base64).
    assert listed["results"][1]["damage_reason"]
    assert first["damage_reason"] is None and listed["results"][3]["damage_reason"] is None
    for state, expected in (
        ("failed", [ids["failed"]]),
        ("damaged", [ids["damaged"]]),
        ("processed", [ids["damaged"], ids["reply"], ids["good"]]),
        ("ignored", []),
        ("all", order),
    ):
        status, listed = await team.call("admin", "GET", f"/api/admin/inbound/?state={state}")
        assert status == 200 and [m["id"] for m in listed["results"]] == expected, state
    status, body = await team.call("admin", "GET", "/api/admin/inbound/?state=lost")
    assert status == 400 and body["error"] == "invalid"


async def test_inbound_list_pages(team: Team, daemon):
    ids = await _three_mails(daemon)
    status, first = await team.call("admin", "GET", "/api/admin/inbound/?page_size=3")
    assert status == 200 and first["count"] == 4 and len(first["results"]) == 3
    assert first["previous"] is None and "page=2" in first["next"]
    status, second = await team.call("admin", "GET", "/api/admin/inbound/?page_size=3&page=2")
    assert [m["id"] for m in second["results"]] == [ids["good"]] and second["next"] is None


async def test_inbound_detail_tells_what_the_mail_became_and_why(team: Team, daemon):
    ids = await _three_mails(daemon)
    status, reply = await team.call("admin", "GET", f"/api/admin/inbound/{ids['reply']}/")
    assert status == 200 and reply["state"] == "processed" and reply["damaged"] is False
    [message] = reply["messages"]
    assert message["ticket_id"] == reply["ticket_id"]
    # The reply threaded into the first mail's ticket, and the record says by which rule.
    status, good = await team.call("admin", "GET", f"/api/admin/inbound/{ids['good']}/")
    assert reply["ticket_id"] == good["ticket_id"]
    assert good["thread_rule"].startswith("new") and good["messages"][0]["thread_rule"]
    assert reply["thread_rule"] == message["thread_rule"] and "in-reply-to" in reply["thread_rule"]
    assert ["Subject", "Re: Printer on fire"] in reply["headers"]
    assert "Re: Printer on fire" in reply["source_text"] and reply["source_truncated"] is False
    assert message["subject"] == "Re: Printer on fire" and "printer" in message["text"]

    status, damaged = await team.call("admin", "GET", f"/api/admin/inbound/{ids['damaged']}/")
    assert damaged["damaged"] is True
    [part] = damaged["messages"][0]["attachments"]
    assert part["filename"] == "scan.pdf" and part["damaged"] and "base64" in part["damage_reason"]

    status, failed = await team.call("admin", "GET", f"/api/admin/inbound/{ids['failed']}/")
    assert failed["state"] == "failed" and failed["messages"] == [] and failed["ticket_id"] is None
    assert "no usable sender" in failed["error"]
    assert failed["source_text"] == BROKEN.decode()
    status, body = await team.call("admin", "GET", "/api/admin/inbound/424242/")
    assert status == 404 and body["error"] == "not_found"


async def test_retry_one_and_every_failed_mail(team: Team, daemon):
    ids = await _three_mails(daemon)
    status, body = await team.call("admin", "POST", f"/api/admin/inbound/{ids['failed']}/retry/")
    assert status == 202 and body == {"queued": 1}

    async def tried_twice():
        [row] = await rows(daemon, InboundMail, InboundMail.id == ids["failed"])
        return row.state == "failed" and row.attempts == 2

    await wait_for(tried_twice, what="the failed mail processed again")  # the cause stays
    status, body = await team.call("admin", "POST", "/api/admin/inbound/retry-failed/")
    assert status == 202 and body == {"queued": 1}

    async def tried_thrice():
        [row] = await rows(daemon, InboundMail, InboundMail.id == ids["failed"])
        return row.state == "failed" and row.attempts == 3

    await wait_for(tried_thrice, what="every failed mail processed again")
    status, body = await team.call("admin", "POST", f"/api/admin/inbound/{ids['good']}/retry/")
    assert status == 409 and body["error"] == "conflict"
    status, body = await team.call("admin", "POST", "/api/admin/inbound/424242/retry/")
    assert status == 404
    tickets = {r.ticket_id for r in await rows(daemon, InboundMail)}
    assert len(tickets - {None}) == 2  # retrying made no ticket twice


async def test_outbox_shows_failed_mail_and_sends_it_again(team: Team, daemon, sink):
    sink.refuse = "550 5.1.1 No such user here"
    await send(daemon.smtp_port, make_mail(sender="erin@example.com")[0], sender="erin@example.com")

    async def failed():
        return await rows(daemon, OutboxMail, OutboxMail.state == "failed")

    [row] = await wait_for(failed, what="the acknowledgement refused")
    status, listed = await team.call("admin", "GET", "/api/admin/outbox/?state=failed")
    assert status == 200 and [m["id"] for m in listed["results"]] == [row.id]
    [shown] = listed["results"]
    assert shown["recipient"] == "erin@example.com" and "550" in shown["error"]
    assert shown["kind"] == "acknowledgement" and shown["next_attempt_at"] is None
    status, listed = await team.call("admin", "GET", "/api/admin/outbox/?state=queued")
    assert listed["count"] == 0
    sink.refuse = None
    status, body = await team.call("admin", "POST", f"/api/admin/outbox/{row.id}/retry/")
    assert status == 202 and body["state"] == "queued" and body["next_attempt_at"]
    await wait_for_value(lambda: sink.to("erin@example.com"), what="the mail sent again")

    async def sent():
        return await rows(daemon, OutboxMail, OutboxMail.state == "sent")

    await wait_for(sent, what="the row recorded as sent")
    status, listed = await team.call("admin", "GET", "/api/admin/outbox/?state=sent")
    assert [m["id"] for m in listed["results"]] == [row.id]
    assert listed["results"][0]["sent_at"] and listed["results"][0]["error"] is None
    status, body = await team.call("admin", "POST", f"/api/admin/outbox/{row.id}/retry/")
    assert status == 409  # sent already: never twice
    status, body = await team.call("admin", "POST", "/api/admin/outbox/424242/retry/")
    assert status == 404
    status, body = await team.call("admin", "GET", "/api/admin/outbox/?state=lost")
    assert status == 400


# The tester's mail: a text part and a PDF whose base64 is broken, and a subject whose
# encoded word is not base64 at all.
BROKEN_PARTS = (
    b"From: Eve <eve@example.com>\r\nTo: support@localhost\r\n"
    b"Subject: =?utf-8?B?broken!!!?= and =?utf-8?B?w6k=?=\r\n"
    b"Message-ID: <broken-parts@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    b"\r\nSGVsbG8gdGhlcmU!!!\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="doc.pdf"\r\n\r\n%%%JVBERi0x\r\n--b--\r\n'
)


async def test_a_text_part_that_did_not_decode_marks_the_mail_damaged_with_why(team: Team, daemon):
    """Kept as far as it decodes, and listed damaged with the reason (issue 15); the
    subject's undecodable word kept as written (RFC 2047 6.3), the good one decoded."""
    await send(daemon.smtp_port, BROKEN_PARTS, sender="eve@example.com")
    [mail] = await settled(daemon, 1)
    status, listed = await team.call("admin", "GET", "/api/admin/inbound/?state=damaged")
    assert status == 200
    [row] = listed["results"]
    assert row["id"] == mail.id and row["state"] == "processed" and row["damaged"] is True
    assert "text part" in row["error"] and "base64" in row["error"]
    _, detail = await team.call("admin", "GET", f"/api/admin/inbound/{mail.id}/")
    [message] = detail["messages"]
    assert message["text"].startswith("Hello there")
    assert "[Part of the text could not be decoded" in message["text"]
    [pdf] = message["attachments"]
    assert pdf["damaged"] and "outside base64" in pdf["damage_reason"]
    _, ticket = await team.call("admin", "GET", f"/api/tickets/{detail['ticket_id']}/")
    assert ticket["subject"] == "=?utf-8?B?broken!!!?= and é"
