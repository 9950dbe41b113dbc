"""Mailgun signs only timestamp + token, not the body: a captured request must not carry a
second mail, whatever its body, while its timestamp is still recent."""

from __future__ import annotations

import hashlib
import hmac

from desk.models import InboundMail
from tests.conftest import MAILGUN_KEY
from tests.people import Team
from tests.support import make_mail, rows
from tests.test_inbound_providers import _mailgun_fields, _post_form


async def test_a_signature_is_taken_once(team: Team, daemon):
    first, _ = make_mail(subject="first", message_id="<mg-1@example.com>")
    fields = _mailgun_fields(first)
    status, _ = await _post_form(team, "mailgun", fields)
    assert status == 200
    status, body = await _post_form(team, "mailgun", fields)  # the very same request again
    assert status == 401 and body["error"] == "bad_signature" and "already used" in body["message"]
    forged, _ = make_mail(subject="forged", message_id="<mg-2@example.com>")
    status, body = await _post_form(team, "mailgun", {**fields, "body-mime": forged.decode()})
    assert status == 401 and body["error"] == "bad_signature"
    stored = await rows(daemon, InboundMail)
    assert [m.raw for m in stored] == [first]


async def test_a_timestamp_that_is_not_a_finite_number_is_refused(team: Team, daemon):
    raw, _ = make_mail(subject="nan")
    token = "t" * 50
    for timestamp in ("nan", "inf", "-inf", "1e400"):
        signature = hmac.new(
            MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest()
        fields = {
            "timestamp": timestamp,
            "token": token,
            "signature": signature,
            "body-mime": raw.decode(),
        }
        status, body = await _post_form(team, "mailgun", fields)
        assert status == 401 and body["error"] == "bad_signature", timestamp
    assert await rows(daemon, InboundMail) == []
