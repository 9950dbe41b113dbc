"""Passwords set by a link sent by mail: an admin invites a staff member, a person who
forgot theirs asks for a reset. The link is read from the relay sink; its token works once,
expires, is stored only as a digest, and a newer link ends the older one. An admin lifts a
login lockout. Invitations and unlocks are audited."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from desk.auth.password_links import SET_PASSWORD_PAGE
from desk.models import AuditEntry, PasswordToken, utcnow
from tests.people import PASSWORD, Team
from tests.support import rows, send_due_now, wait_for_value

NEW_PASSWORD = "a new horse 22"


async def _link(sink, email: str, nth: int = 0) -> str:
    """The token in the nth password mail to `email`, checked to sit in a link to the page."""

    def mails() -> list:
        return [
            m
            for m in sink.to(email)
            if "password" in m["Subject"].lower() or "invited" in m["Subject"]
        ]

    found = await wait_for_value(lambda: mails()[nth:] and mails(), what="a password mail")
    mail = found[nth]
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"(http\S+)", text)
    assert link and mail["Auto-Submitted"] == "auto-generated"
    parts = urlsplit(link.group(1))
    assert parts.path == SET_PASSWORD_PAGE
    html = mail.get_body(("html",)).get_content()
    assert link.group(1).replace("&", "&amp;") in html
    return parse_qs(parts.query)["token"][0]


async def _confirm(api, token: str, password: str = NEW_PASSWORD) -> tuple[int, dict]:
    return await api.call(
        "POST", "/api/auth/password-reset/confirm/", json={"token": token, "password": password}
    )


async def test_an_invited_agent_sets_a_password_and_signs_in(team: Team, api, daemon, sink):
    status, made = await team.call(
        "admin", "POST", "/api/admin/users/", json={"email": "nia@localhost", "role": "agent"}
    )
    assert status == 201 and made["has_password"] is False
    status, body = await team.call("admin", "POST", f"/api/admin/users/{made['id']}/invite/")
    assert status == 202 and body["user"]["id"] == made["id"] and body["expires_at"]
    assert "token" not in body
    token = await _link(sink, "nia@localhost")
    [mail] = sink.to("nia@localhost")
    assert "invited" in mail["Subject"] and "Admin" in mail.get_body(("plain",)).get_content()
    [stored] = await rows(daemon, PasswordToken)
    assert stored.purpose == "invite" and token not in stored.token_hash  # a digest only
    status, body = await _confirm(api, token, "short")
    assert status == 400 and body["details"]["field"] == "password"
    status, body = await _confirm(api, token)
    assert status == 200 and body["user"]["email"] == "nia@localhost"
    assert body["user"]["has_password"] is True
    assert await api.token("nia@localhost", NEW_PASSWORD)
    status, body = await _confirm(api, token, "another horse 3")
    assert status == 400 and body["error"] == "invalid_token"  # once only
    actions = [(e.action, e.actor_id) for e in await rows(daemon, AuditEntry)]
    admin = team.id("admin")
    assert ("user.created", admin) in actions and ("user.invited", admin) in actions
    assert ("user.password_set_by_invite", made["id"]) in actions


async def test_who_may_be_invited(team: Team):
    async def invite(who: str | int) -> tuple[int, dict]:
        user = who if isinstance(who, int) else team.id(who)
        return await team.call("admin", "POST", f"/api/admin/users/{user}/invite/")

    status, body = await invite("carol")
    assert status == 409 and "sign up" in body["message"]  # customers sign up by code
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('agent2')}/", json={"is_active": False}
    )
    status, body = await invite("agent2")
    assert status == 409 and "deactivated" in body["message"]
    assert (await invite(424242))[0] == 404


async def test_a_newer_link_ends_the_older_and_links_expire(team: Team, api, daemon, sink):
    for _ in range(2):
        status, _ = await team.call(
            "admin", "POST", f"/api/admin/users/{team.id('agent1')}/invite/"
        )
        assert status == 202
    first = await _link(sink, "agent1@localhost", 0)
    second = await _link(sink, "agent1@localhost", 1)
    status, body = await _confirm(api, first)
    assert status == 400 and body["error"] == "invalid_token"
    async with daemon.desk.db.writer() as session:
        await session.execute(update(PasswordToken).values(expires_at=utcnow()))
    status, body = await _confirm(api, second)
    assert status == 400 and body["error"] == "invalid_token"
    status, body = await _confirm(api, "not-a-token")
    assert status == 400 and body["error"] == "invalid_token"
    assert await api.token("agent1@localhost", PASSWORD)  # nothing changed


async def test_reset_answers_alike_mails_only_real_accounts_and_ends_sessions(
    team: Team, api, daemon, sink
):
    status, refreshable = await api.call(
        "POST", "/api/auth/token/", json={"email": "carol@example.com", "password": PASSWORD}
    )
    answers = []
    for email in ("Carol@Example.com", "nobody@example.com"):
        answers.append(await api.call("POST", "/api/auth/password-reset/", json={"email": email}))
    assert answers[0] == answers[1] and answers[0][0] == 202
    token = await _link(sink, "carol@example.com")
    assert "Reset" in sink.to("carol@example.com")[0]["Subject"]
    await send_due_now(daemon)
    assert sink.to("nobody@example.com") == []
    status, body = await _confirm(api, token)
    assert status == 200 and body["user"]["email"] == "carol@example.com"
    status, _ = await api.call(
        "POST", "/api/auth/token/refresh/", json={"refresh": refreshable["refresh"]}
    )
    assert status == 401  # sessions from before the reset are over
    status, _ = await api.call("GET", "/api/me/", team.tokens["carol"])
    assert status == 401
    assert await api.token("carol@example.com", NEW_PASSWORD)
    status, body = await api.call("POST", "/api/auth/password-reset/", json={"email": "nope"})
    assert status == 400 and body["details"]["field"] == "email"


async def test_reset_requests_are_rationed(api, team: Team, sink):
    statuses = [
        (await api.call("POST", "/api/auth/password-reset/", json={"email": "dave@example.com"}))[0]
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_an_admin_unlocks_a_locked_out_account(team: Team, api, daemon):
    login = {"email": "agent2@localhost", "password": "wrong horse"}
    statuses = [(await api.call("POST", "/api/auth/token/", json=login))[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    right = {"email": "agent2@localhost", "password": PASSWORD}
    status, _ = await api.call("POST", "/api/auth/token/", json=right)
    assert status == 429  # locked, even with the right password
    status, body = await team.call("admin", "POST", f"/api/admin/users/{team.id('agent2')}/unlock/")
    assert status == 200 and body["id"] == team.id("agent2")
    status, _ = await api.call("POST", "/api/auth/token/", json=right)
    assert status == 200
    entries = await rows(daemon, AuditEntry, AuditEntry.action == "user.unlocked")
    assert [(e.actor_id, e.target) for e in entries] == [
        (team.id("admin"), f"user:{team.id('agent2')}")
    ]
    status, _ = await team.call("admin", "POST", "/api/admin/users/424242/unlock/")
    assert status == 404
