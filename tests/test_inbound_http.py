"""Mail handed over by HTTP (`POST /api/inbound/mime/`): API-key authenticated, stored before
the 202, then the same intake as SMTP."""

from __future__ import annotations

import io

from desk.models import InboundMail, Ticket
from tests.people import Team
from tests.support import make_mail, rows, settled, wait_for_value


async def _key(team: Team, scopes: list[str]) -> str:
    status, created = await team.call(
        "admin", "POST", "/api/admin/api-keys/", json={"name": "mail gateway", "scopes": scopes}
    )
    assert status == 201
    return str(created["key"])


async def _post(team: Team, raw: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with team.api.http.post(
        f"{team.api.base}/api/inbound/mime/",
        data=io.BytesIO(raw),
        headers={"Content-Type": "message/rfc822", **headers},
    ) as r:
        return r.status, await r.json()


async def test_raw_mail_over_http_becomes_a_ticket_and_threads(team: Team, daemon, sink):
    key = await _key(team, ["inbound:write"])
    raw, first_id = make_mail(sender="hal@example.org", subject="Pod bay doors")
    status, body = await _post(team, raw, {"Authorization": f"Bearer {key}"})
    assert status == 202 and body["status"] == "stored"
    # Stored before the answer: the row is there, whatever happens next.
    [stored] = await rows(daemon, InboundMail, InboundMail.id == body["id"])
    assert stored.raw == raw and stored.source == "api"
    await settled(daemon, 1)
    [ticket] = await rows(daemon, Ticket)
    assert ticket.subject == "Pod bay doors"
    [ack] = await wait_for_value(lambda: sink.to("hal@example.org"), what="acknowledgement")
    assert ack["In-Reply-To"] == first_id
    # The same bytes again: stored once. A reply by HTTP threads like one by SMTP.
    status, again = await _post(team, raw, {"X-Api-Key": key})
    assert status == 202 and again["id"] == body["id"]
    reply, _ = make_mail(
        sender="hal@example.org",
        subject="Re: doors",
        body="Open them",
        in_reply_to=ack["Message-ID"],
    )
    status, _ = await _post(team, reply, {"X-Api-Key": key})
    assert status == 202
    await settled(daemon, 2)
    assert len(await rows(daemon, Ticket)) == 1


async def test_inbound_needs_a_key_with_the_scope(team: Team, daemon):
    raw, _ = make_mail()
    status, body = await _post(team, raw, {})
    assert status == 401 and body["error"] == "not_authenticated"
    status, _ = await _post(team, raw, {"Authorization": f"Bearer {team.tokens['admin']}"})
    assert status == 401  # a person's token is not an integration's key
    status, _ = await _post(team, raw, {"X-Api-Key": "pdk_nope_nope"})
    assert status == 401
    read_only = await _key(team, ["tickets:read"])
    status, body = await _post(team, raw, {"X-Api-Key": read_only})
    assert status == 403 and "inbound:write" in body["message"]
    assert await rows(daemon, InboundMail) == []


async def test_inbound_refuses_empty_and_oversized(team: Team, daemon, settings):
    key = await _key(team, ["inbound:write"])
    status, body = await _post(team, b"  \r\n", {"X-Api-Key": key})
    assert status == 400 and "body" in body["details"]["fields"]
    big = b"Subject: big\r\n\r\n" + b"x" * (settings.max_message_bytes + 1)
    status, body = await _post(team, big, {"X-Api-Key": key})
    assert status == 413 and body["error"] == "too_large"
    assert await rows(daemon, InboundMail) == []
