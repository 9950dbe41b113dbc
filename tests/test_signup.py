"""Sign-up by one-time code: mailed through the outbox, stored hashed, 10 minutes, 5 tries;
the verification token works once; a customer who wrote in claims their account."""

from __future__ import annotations

import re

from sqlalchemy import update

from desk.models import OtpCode
from desk.models.base import utcnow
from tests.people import Team
from tests.support import make_mail, rows, send, settled, wait_for_value


async def _code(sink, email: str, nth: int = 0) -> str:
    def codes() -> list:
        return [m for m in sink.to(email) if "code" in m["Subject"]]

    mails = await wait_for_value(lambda: codes()[nth:] and codes(), what="code mail")
    match = re.search(r"code is (\d{6})", mails[nth].get_body(("plain",)).get_content())
    assert match and mails[nth]["Auto-Submitted"] == "auto-generated"
    return match.group(1)


async def _signup(api, sink, email: str) -> str:
    status, _ = await api.call("POST", "/api/auth/request-otp/", json={"email": email})
    assert status == 202
    code = await _code(sink, email.lower())
    status, body = await api.call(
        "POST", "/api/auth/verify-otp/", json={"email": email, "code": code}
    )
    assert status == 200, body
    return str(body["verification_token"])


async def test_customer_who_wrote_in_claims_their_account(api, daemon, sink):
    raw, _ = make_mail(sender="frank@example.net", name="Frank", subject="Order missing")
    await send(daemon.smtp_port, raw, sender="frank@example.net")
    await settled(daemon, 1)
    token = await _signup(api, sink, "Frank@Example.net")
    [row] = await rows(daemon, OtpCode)
    assert len(row.code_hash) == 64 and not row.code_hash.isdigit()  # never the code itself
    status, body = await api.call(
        "POST",
        "/api/auth/register/",
        json={
            "email": "frank@example.net",
            "password": "a long password",
            "name": "Frank F.",
            "verification_token": token,
        },
    )
    assert status == 201, body
    assert body["user"]["role"] == "customer" and body["access"] and body["refresh"]
    status, tickets = await api.call("GET", "/api/tickets/", body["access"])
    assert [t["subject"] for t in tickets["results"]] == ["Order missing"]
    # The token worked once; the account is now registered.
    status, again = await api.call(
        "POST",
        "/api/auth/register/",
        json={
            "email": "frank@example.net",
            "password": "another password",
            "verification_token": token,
        },
    )
    assert status == 400 and again["error"] == "invalid"
    assert await api.token("frank@example.net", "a long password")


async def test_new_person_registers_and_existing_account_is_refused(api, sink, team: Team):
    token = await _signup(api, sink, "gina@example.com")
    status, body = await api.call(
        "POST",
        "/api/auth/register/",
        json={
            "email": "gina@example.com",
            "password": "gina's password",
            "name": "Gina",
            "verification_token": token,
        },
    )
    assert status == 201 and body["user"]["name"] == "Gina"
    # carol already has a password: a code proves the address but does not re-register it.
    token = await _signup(api, sink, "carol@example.com")
    status, body = await api.call(
        "POST",
        "/api/auth/register/",
        json={
            "email": "carol@example.com",
            "password": "new password!",
            "verification_token": token,
        },
    )
    assert status == 409
    # A token is bound to its address.
    token = await _signup(api, sink, "hank@example.com")
    status, body = await api.call(
        "POST",
        "/api/auth/register/",
        json={"email": "ivy@example.com", "password": "whatever123", "verification_token": token},
    )
    assert status == 400 and "verification_token" in body["details"]["fields"]


async def test_wrong_codes_are_counted_and_the_code_dies_after_five(api, sink):
    email = "jack@example.com"
    await api.call("POST", "/api/auth/request-otp/", json={"email": email})
    code = await _code(sink, email)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1, 0):
        status, body = await api.call(
            "POST", "/api/auth/verify-otp/", json={"email": email, "code": wrong}
        )
        assert status == 400 and body["error"] == "invalid_code"
        assert f"{left} tries left" in body["message"]
    status, body = await api.call(
        "POST", "/api/auth/verify-otp/", json={"email": email, "code": code}
    )
    assert status == 400 and "too many" in body["message"]
    # A new code starts over.
    await api.call("POST", "/api/auth/request-otp/", json={"email": email})
    code = await _code(sink, email, nth=1)
    status, _ = await api.call("POST", "/api/auth/verify-otp/", json={"email": email, "code": code})
    assert status == 200


async def test_expired_code_and_bad_input(api, daemon, sink):
    email = "kim@example.com"
    await api.call("POST", "/api/auth/request-otp/", json={"email": email})
    code = await _code(sink, email)
    async with daemon.desk.db.writer() as session:
        await session.execute(update(OtpCode).values(expires_at=utcnow()))
    status, body = await api.call(
        "POST", "/api/auth/verify-otp/", json={"email": email, "code": code}
    )
    assert status == 400 and "request a new one" in body["message"]
    for payload, field in (
        ({"email": "not an address"}, "email"),
        ({"email": "a@b.c\r\nBcc: x@y.z"}, "email"),
        ({}, "email"),
    ):
        status, body = await api.call("POST", "/api/auth/request-otp/", json=payload)
        assert status == 400 and field in body["details"]["fields"]
    status, body = await api.call(
        "POST", "/api/auth/verify-otp/", json={"email": email, "code": "12ab56"}
    )
    assert status == 400 and "code" in body["details"]["fields"]


async def test_code_requests_are_rationed(api, sink):
    answers = [
        (await api.call("POST", "/api/auth/request-otp/", json={"email": "lea@example.com"}))
        for _ in range(6)
    ]
    assert [s for s, _ in answers[:5]] == [202] * 5
    status, body = answers[5]
    assert status == 429 and body["error"] == "rate_limited"


async def test_staff_address_gets_no_code(api, sink, team: Team, daemon):
    status, _ = await api.call("POST", "/api/auth/request-otp/", json={"email": "admin@localhost"})
    assert status == 202  # the same answer, so nobody learns who is staff
    assert await rows(daemon, OtpCode) == []
