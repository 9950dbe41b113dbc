"""The least API that closes the loop, with DESIGN.md's access rules from the start."""

from __future__ import annotations

import time

import jwt
import pytest
import time_machine
from sqlalchemy import update

from desk.models import Ticket, TicketMessage, User
from tests.conftest import SECRET, SHARED
from tests.support import make_mail, rows, send, settled

PASSWORD = "correct horse 1"


@pytest.fixture
async def desk_world(daemon, api, make_user):
    """Two customers with a ticket each (by mail), two agents, an admin; ticket A is
    assigned to agent1 and carries an internal note."""
    for sender in ("carol@example.com", "dave@example.com"):
        raw, _ = make_mail(sender=sender, name=sender.split("@")[0], subject=f"from {sender}")
        await send(daemon.smtp_port, raw, sender=sender)

    await settled(daemon, 2)
    agent1 = await make_user("agent1@localhost", "agent")
    await make_user("agent2@localhost", "agent")
    await make_user("admin@localhost", "admin")
    async with daemon.desk.db.writer() as session:
        for email in ("carol@example.com", "dave@example.com"):
            await session.execute(
                update(User).where(User.email == email).values(password_hash=agent1.password_hash)
            )
    ticket_a, ticket_b = await rows(daemon, Ticket)
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_a.id)
            .values(assigned_agent_id=agent1.id, status="ASSIGNED")
        )
    tokens = {
        name: await api.token(f"{name}@{dom}", PASSWORD)
        for name, dom in [
            ("carol", "example.com"),
            ("dave", "example.com"),
            ("agent1", "localhost"),
            ("agent2", "localhost"),
            ("admin", "localhost"),
        ]
    }
    status, _ = await api.call(
        "POST",
        f"/api/tickets/{ticket_a.id}/messages/",
        tokens["agent1"],
        json={"body": "internal: carol is a VIP", "is_internal": True},
    )
    assert status == 201
    return {"a": ticket_a.id, "b": ticket_b.id, "tokens": tokens}


VISIBLE = {  # who sees which ticket (a: carol's, assigned to agent1; b: dave's, unassigned)
    "carol": {"a"},
    "dave": {"b"},
    "agent1": {"a", "b"},
    "agent2": {"b"},
    "admin": {"a", "b"},
}


@pytest.mark.parametrize("who", list(VISIBLE))
async def test_ticket_list_and_detail_follow_access_rules(api, desk_world, who):
    token = desk_world["tokens"][who]
    status, body = await api.call("GET", "/api/tickets/", token)
    assert status == 200
    seen = {t["id"] for t in body["results"]}
    assert seen == {desk_world[k] for k in VISIBLE[who]}
    assert body["count"] == len(seen)
    for key in ("a", "b"):
        status, detail = await api.call("GET", f"/api/tickets/{desk_world[key]}/", token)
        if key in VISIBLE[who]:
            assert status == 200
            notes = [m for m in detail["messages"] if m["is_internal"]]
            staff = who.startswith("agent") or who == "admin"
            assert bool(notes) == (staff and key == "a")
        else:
            assert status == 404 and detail["error"] == "ticket_not_found"


async def test_customer_cannot_write_internal_note_or_to_others(api, desk_world):
    carol = desk_world["tokens"]["carol"]
    status, body = await api.call(
        "POST",
        f"/api/tickets/{desk_world['a']}/messages/",
        carol,
        json={"body": "sneaky", "is_internal": True},
    )
    assert status == 403 and body["error"] == "forbidden"
    status, _ = await api.call(
        "POST", f"/api/tickets/{desk_world['b']}/messages/", carol, json={"body": "hello dave"}
    )
    assert status == 404
    status, body = await api.call(
        "POST", f"/api/tickets/{desk_world['a']}/messages/", carol, json={"body": "any update?"}
    )
    assert status == 201 and body["kind"] == "inbound"


async def test_agent_cannot_post_on_colleagues_ticket(api, desk_world):
    status, _ = await api.call(
        "POST",
        f"/api/tickets/{desk_world['a']}/messages/",
        desk_world["tokens"]["agent2"],
        json={"body": "hi"},
    )
    assert status == 404


@SHARED
async def test_anonymous_and_bad_tokens_are_refused(shared_api):
    for token in (
        None,
        "garbage",
        _forged(alg="none"),
        _forged(secret="wrong" * 10),
        _forged(exp=-10),
        _forged(typ="refresh"),
        _forged(aud="other"),
    ):
        status, body = await shared_api.call("GET", "/api/tickets/", token)
        assert status == 401, token
        assert body["error"] == "not_authenticated"


def _forged(
    *,
    alg: str = "HS256",
    secret: str = SECRET,
    exp: int = 600,
    typ: str = "access",
    aud: str = "postdesk-api",
) -> str:
    now = int(time.time())
    claims = {
        "sub": "1",
        "typ": typ,
        "iat": now,
        "nbf": now,
        "exp": now + exp,
        "jti": "x",
        "iss": "postdesk",
        "aud": aud,
    }
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none")
    return jwt.encode(claims, secret, algorithm=alg)


async def test_token_refused_once_expired_though_accepted_before(api, desk_world):
    """A token accepted (again and again) until its expiry is refused from then on."""
    claims = jwt.decode(desk_world["tokens"]["agent2"], options={"verify_signature": False})
    now = int(time.time())
    token = jwt.encode(
        {**claims, "iat": now, "nbf": now, "exp": now + 60}, SECRET, algorithm="HS256"
    )
    for _ in range(2):
        assert (await api.call("GET", "/api/tickets/", token))[0] == 200
    # The wall clock (what token checks read; not the event loop's) moved past the expiry.
    with time_machine.travel(now + 61):
        status, body = await api.call("GET", "/api/tickets/", token)
    assert status == 401 and "expired" in body["message"]


async def test_deactivated_user_is_shut_out_at_once(api, daemon, desk_world):
    token = desk_world["tokens"]["agent2"]
    assert (await api.call("GET", "/api/tickets/", token))[0] == 200
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(User).where(User.email == "agent2@localhost").values(is_active=False)
        )
    assert (await api.call("GET", "/api/tickets/", token))[0] == 401


async def test_login_errors(api, desk_world):
    for body in (
        {"email": "admin@localhost", "password": "wrong"},
        {"email": "nobody@localhost", "password": "x"},
        {"email": "carol@example.com", "password": ""},
    ):
        status, answer = await api.call("POST", "/api/auth/token/", json=body)
        assert status in (400, 401) and answer["error"] in ("not_authenticated", "invalid")
    status, _ = await api.call(
        "POST", "/api/auth/token/", json={"username": "admin@localhost", "password": PASSWORD}
    )
    assert status == 200


@pytest.mark.parametrize(
    "path,kwargs,field",
    [
        ("/api/tickets/?status=NOPE", {}, "status"),
        ("/api/tickets/?page=0", {}, "page"),
        ("/api/tickets/?ordering=password", {}, "ordering"),
        # Numbers past any row id: refused by name, not a 500 from the database driver.
        ("/api/tickets/?assigned_agent=99999999999999999999", {}, "assigned_agent"),
        ("/api/tickets/?customer=9223372036854775808", {}, "customer"),
        ("/api/tickets/?company=2147483648", {}, "company"),
        ("/api/tickets/2147483648/", {}, "id"),
        ("/api/chat/messages/?room=99999999999999999999", {}, "room"),
    ],
)
@SHARED
async def test_bad_query_is_a_clear_400(shared_team, path, kwargs, field):
    status, body = await shared_team.call("admin", "GET", path, **kwargs)
    assert status == 400 and field in body["details"]["fields"]


@SHARED
async def test_bad_bodies_are_clear_errors(shared_team, shared_daemon):
    api, admin = shared_team.api, shared_team.tokens["admin"]
    ticket = await shared_team.open_ticket("carol")
    url = f"/api/tickets/{ticket}/messages/"
    for kwargs, code in (
        ({"data": b"not json"}, "invalid"),
        ({"json": [1, 2]}, "invalid"),
        ({"json": {"body": ""}}, "invalid"),
        ({"json": {"body": "x", "extra": 1}}, "invalid"),
    ):
        status, body = await api.call("POST", url, admin, **kwargs)
        assert status == 400 and body["error"] == code, body
    huge = 99999999999999999999
    for path, payload, field in (
        (f"/api/tickets/{ticket}/assign/", {"assigned_agent": huge}, "assigned_agent"),
        ("/api/chat/messages/", {"room": huge, "body": "hi"}, "room"),
        ("/api/chat/rooms/", {"type": "group", "name": "x", "participant_ids": [huge]}, None),
    ):
        status, body = await api.call("POST", path, admin, json=payload)
        assert status == 400 and body["error"] == "invalid", body
        assert field is None or field in body["details"]["fields"], body
    status, body = await api.call("GET", "/api/tickets/abc/", admin)
    assert status in (400, 404) and "error" in body
    status, body = await api.call("GET", "/api/nothing-here/", admin)
    assert status == 404 and body["error"] == "not_found"
    stored = await rows(shared_daemon, TicketMessage, TicketMessage.ticket_id == ticket)
    assert len(stored) == 1  # the opening message only: nothing half-written


async def test_pagination_shape(api, daemon, make_user):
    for i in range(7):
        raw, _ = make_mail(subject=f"ticket {i}")
        await send(daemon.smtp_port, raw)

    await settled(daemon, 7)
    await make_user("boss@localhost", "admin")
    token = await api.token("boss@localhost", PASSWORD)
    status, page1 = await api.call("GET", "/api/tickets/?page_size=5&ordering=id", token)
    assert status == 200 and page1["count"] == 7 and len(page1["results"]) == 5
    assert page1["previous"] is None and "page=2" in page1["next"]
    status, page2 = await api.call("GET", "/api/tickets/?page_size=5&ordering=id&page=2", token)
    assert len(page2["results"]) == 2 and page2["next"] is None
    ids = [t["id"] for t in page1["results"] + page2["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 7


@SHARED
async def test_healthz(shared_api):
    status, body = await shared_api.call("GET", "/healthz")
    assert status == 200 and body == {"status": "ok"}


async def test_stored_html_is_sanitized_when_served(api, daemon, make_user):
    raw = (
        b"From: h@example.com\r\nTo: support@localhost\r\nSubject: html\r\n"
        b"Content-Type: text/html\r\n\r\n<p onclick='x()'>Hi<script>steal()</script>"
        b"<a href='javascript:alert(1)'>link</a><img src='cid:logo'></p>\r\n"
    )
    await send(daemon.smtp_port, raw, sender="h@example.com")

    [inbound] = await settled(daemon, 1)
    await make_user("root@localhost", "admin")
    token = await api.token("root@localhost", PASSWORD)
    _, detail = await api.call("GET", f"/api/tickets/{inbound.ticket_id}/", token)
    html = detail["messages"][0]["body_html"]
    assert "Hi" in html and "script" not in html and "onclick" not in html
    assert "javascript:" not in html and 'src="cid:logo"' in html
