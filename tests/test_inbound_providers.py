"""Mail from providers' inbound webhooks (Mailgun, Postmark, SendGrid): each provider's own
request shape over a real HTTP socket, ending in the same intake as SMTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest

from daemon import inbound_worker
from desk.models import Attachment, InboundMail, Ticket, TicketMessage
from tests.conftest import MAILGUN_KEY
from tests.people import Team
from tests.support import make_mail, rows, settled, wait_for, wait_for_value


async def _key(team: Team) -> str:
    status, created = await team.call(
        "admin", "POST", "/api/admin/api-keys/", json={"name": "mx", "scopes": ["inbound:write"]}
    )
    assert status == 201
    return str(created["key"])


def _mailgun_fields(
    raw: bytes,
    recipient: str = "support@localhost",
    *,
    key: str = MAILGUN_KEY,
    timestamp: int | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    token = hashlib.sha256(raw + ts.encode()).hexdigest()[:50]
    signature = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return {
        "recipient": recipient,
        "sender": "alice@example.com",
        "timestamp": ts,
        "token": token,
        "signature": signature,
        "body-mime": raw.decode(),
    }


async def _post_form(
    team: Team, provider: str, fields: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    url = f"{team.api.base}/api/inbound/{provider}/"
    async with team.api.http.post(url, data=form, headers=headers or {}) as r:
        return r.status, await r.json()


async def _post_json(team: Team, payload: dict, headers: dict[str, str]) -> tuple[int, dict]:
    url = f"{team.api.base}/api/inbound/postmark/"
    async with team.api.http.post(url, json=payload, headers=headers) as r:
        return r.status, await r.json()


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"postmark:{key}".encode()).decode()}


async def test_mailgun_signed_mime_becomes_a_ticket_and_its_recipient_threads(
    team: Team, daemon, sink
):
    raw, first_id = make_mail(sender="hal@example.org", subject="Pod bay doors")
    status, body = await _post_form(team, "mailgun", _mailgun_fields(raw))
    assert status == 200 and body["status"] == "stored"
    [stored] = await rows(daemon, InboundMail, InboundMail.id == body["id"])
    assert stored.raw == raw and stored.source == "mailgun"
    await settled(daemon, 1)
    [ack] = await wait_for_value(lambda: sink.to("hal@example.org"), what="acknowledgement")
    assert ack["In-Reply-To"] == first_id
    # A reply without In-Reply-To, its token only in the envelope recipient Mailgun reports
    # (not in To:), threads by that token as it would by SMTP's RCPT TO.
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    reply, _ = make_mail(sender="hal@example.org", subject="doors again")
    status, _ = await _post_form(team, "mailgun", _mailgun_fields(reply, reply_to))
    assert status == 200
    await settled(daemon, 2)
    [ticket] = await rows(daemon, Ticket)
    messages = await rows(daemon, TicketMessage, TicketMessage.ticket_id == ticket.id)
    assert len(messages) == 2 and messages[1].thread_rule == "reply-token"


@pytest.fixture
def hourly_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inbound worker polls once an hour: mail processed within a test woke it."""
    monkeypatch.setattr(inbound_worker, "POLL_SECONDS", 3600.0)


async def test_provider_mail_wakes_the_inbound_worker(hourly_poll: None, team: Team):
    # The web app stores through the desk's one Receiver, whose commits the worker waits on.
    raw, _ = make_mail(sender="hal@example.org", subject="Wake up, HAL")
    status, _ = await _post_form(team, "mailgun", _mailgun_fields(raw))
    assert status == 200

    async def listed() -> list[dict]:
        status, page = await team.call("admin", "GET", "/api/tickets/")
        assert status == 200
        return [t for t in page["results"] if t["subject"] == "Wake up, HAL"]

    [ticket] = await wait_for(listed, what="the ticket, without the worker's hourly poll")
    assert ticket["status"] == "OPEN"


async def test_mailgun_refuses_a_bad_or_stale_signature(team: Team, daemon):
    raw, _ = make_mail()
    forged = _mailgun_fields(raw, key="not-the-key")
    status, body = await _post_form(team, "mailgun", forged)
    assert status == 401 and body["error"] == "bad_signature"
    stale = _mailgun_fields(raw, timestamp=int(time.time()) - 3600)
    status, _ = await _post_form(team, "mailgun", stale)
    assert status == 401
    unsigned = {k: v for k, v in _mailgun_fields(raw).items() if k != "signature"}
    status, _ = await _post_form(team, "mailgun", unsigned)
    assert status == 401
    parsed_form = {k: v for k, v in _mailgun_fields(raw).items() if k != "body-mime"}
    status, body = await _post_form(team, "mailgun", parsed_form)
    assert status == 400 and "body-mime" in body["details"]["fields"]
    assert await rows(daemon, InboundMail) == []


def _postmark(**extra: object) -> dict:
    payload = {
        "FromFull": {"Email": "dave@example.net", "Name": "Dave Bowman"},
        "From": "dave@example.net",
        "ToFull": [{"Email": "support@localhost", "Name": ""}],
        "OriginalRecipient": "support@localhost",
        "Subject": "Antenna unit",
        "Date": "Sat, 21 Nov 2026 10:00:00 +0000",
        "MessageID": "7f0e4b7a-0000-4000-8000-000000000001",
        "TextBody": "The AE-35 unit will fail.",
        "HtmlBody": "<p>The <b>AE-35</b> unit will fail.<script>x()</script></p>",
        "Headers": [{"Name": "Message-ID", "Value": "<ae35@example.net>"}],
        "Attachments": [
            {
                "Name": "report.txt",
                "ContentType": "text/plain",
                "Content": base64.b64encode(b"fault predicted").decode(),
                "ContentLength": 15,
            }
        ],
    }
    payload.update(extra)
    return payload


async def test_postmark_json_is_rebuilt_stored_once_and_threaded(team: Team, daemon, sink):
    key = await _key(team)
    status, body = await _post_json(team, _postmark(), _basic(key))
    assert status == 200
    status, again = await _post_json(team, _postmark(), {"X-Api-Key": key})  # its retry
    assert status == 200 and again["id"] == body["id"]
    await settled(daemon, 1)
    [ticket] = await rows(daemon, Ticket)
    assert ticket.subject == "Antenna unit"
    [message] = await rows(daemon, TicketMessage)
    assert message.message_id == "<ae35@example.net>"
    assert "AE-35 unit will fail" in message.body_text and "<script" not in message.body_html
    [attachment] = await rows(daemon, Attachment)
    assert attachment.filename == "report.txt" and attachment.size == 15
    await wait_for_value(lambda: sink.to("dave@example.net"), what="acknowledgement")
    answer = _postmark(
        Subject="Re: Antenna unit",
        MessageID="7f0e4b7a-0000-4000-8000-000000000002",
        TextBody="It did not fail.",
        HtmlBody="",
        Attachments=[],
        Headers=[
            {"Name": "Message-ID", "Value": "<ae35-2@example.net>"},
            {"Name": "In-Reply-To", "Value": "<ae35@example.net>"},
        ],
    )
    status, _ = await _post_json(team, answer, {"X-Api-Key": key})
    assert status == 200
    await settled(daemon, 2)
    assert len(await rows(daemon, Ticket)) == 1


async def test_postmark_loop_headers_and_injection_attempts_are_handled(team: Team, daemon, sink):
    key = await _key(team)
    robot = _postmark(
        FromFull={"Email": "robot@example.net", "Name": "Robot\r\nBcc: victim@example.com"},
        Subject="Out of office\r\nBcc: victim@example.com",
        MessageID="7f0e4b7a-0000-4000-8000-000000000003",
        Headers=[
            {"Name": "Auto-Submitted", "Value": "auto-replied"},
            {"Name": "X-Evil\r\nBcc", "Value": "victim@example.com"},
        ],
    )
    status, body = await _post_json(team, robot, {"X-Api-Key": key})
    assert status == 200
    [stored] = await rows(daemon, InboundMail, InboundMail.id == body["id"])
    head = stored.raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
    assert b"\nbcc:" not in head and b"auto-submitted: auto-replied" in head
    await settled(daemon, 1)
    [message] = await rows(daemon, TicketMessage)
    assert message.is_automatic  # stored and threaded, never answered
    assert sink.to("robot@example.net") == [] and sink.to("victim@example.com") == []


async def test_postmark_raw_email_is_stored_byte_for_byte(team: Team, daemon):
    key = await _key(team)
    raw, _ = make_mail(sender="frank@example.org", subject="Raw please")
    status, body = await _post_json(team, _postmark(RawEmail=raw.decode()), {"X-Api-Key": key})
    assert status == 200
    [stored] = await rows(daemon, InboundMail, InboundMail.id == body["id"])
    assert stored.raw == raw and stored.source == "postmark"


async def test_postmark_and_sendgrid_need_the_inbound_key(team: Team, daemon):
    status, body = await _post_json(team, _postmark(), {})
    assert status == 401 and body["error"] == "not_authenticated"
    status, _ = await _post_json(team, _postmark(), _basic("pdk_wrong_key"))
    assert status == 401
    raw, _ = make_mail()
    status, _ = await _post_form(team, "sendgrid", {"email": raw.decode()})
    assert status == 401
    status, _ = await _post_json(
        team,
        ["not", "an", "object"],  # type: ignore[arg-type]
        {"X-Api-Key": await _key(team)},
    )
    assert status == 400
    assert await rows(daemon, InboundMail) == []


async def test_sendgrid_raw_mime_becomes_a_ticket(team: Team, daemon, sink):
    key = await _key(team)
    raw, _ = make_mail(sender="poole@example.org", subject="Spacewalk", body="Grüße aus dem All")
    fields = {
        "email": raw.decode(),
        "to": "support@localhost",
        "from": "poole@example.org",
        "envelope": json.dumps({"to": ["support@localhost"], "from": "poole@example.org"}),
        "charsets": json.dumps({"to": "UTF-8"}),
    }
    status, body = await _post_form(team, "sendgrid", fields, _basic(key))
    assert status == 200
    [stored] = await rows(daemon, InboundMail, InboundMail.id == body["id"])
    assert stored.raw == raw and stored.rcpt_tos == ["support@localhost"]
    await settled(daemon, 1)
    [message] = await rows(daemon, TicketMessage)
    assert "Grüße aus dem All" in message.body_text
    await wait_for_value(lambda: sink.to("poole@example.org"), what="acknowledgement")
    status, body = await _post_form(team, "sendgrid", {"to": "support@localhost"}, _basic(key))
    assert status == 400 and "email" in body["details"]["fields"]
