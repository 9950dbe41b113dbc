"""Conformance with S1 (`../shared/seeds/001_…`, a helpdesk with a React front end on its
own origin): the calls its front end makes, with the bodies its documentation gives, and
the fields it reads from the answers and the ticket socket's frames. Row numbers are the
audit's (docs/seed-conformance.md). Sign in with Google (S1-7) is in test_google_signin."""

from __future__ import annotations

import re

import pytest

from desk.models import OutboxMail
from tests.browser import CORS_ENV, Browser
from tests.people import PASSWORD, Team
from tests.sockets import until
from tests.support import rows, wait_for_value


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, **CORS_ENV}


def _as(team: Team, who: str | None) -> Browser:
    return Browser(team.api, team.tokens[who] if who else None)


async def test_sign_in_me_and_availability(team: Team):
    """S1-1, S1-2, S1-3, S1-8: SimpleJWT's login and refresh, /api/me/, presence."""
    browser = _as(team, None)
    status, pair = await browser.call(
        "POST", "/api/auth/token/", json={"username": "agent1@localhost", "password": PASSWORD}
    )
    assert status == 200 and pair["access"] and pair["refresh"]
    status, fresh = await browser.call(
        "POST", "/api/auth/token/refresh/", json={"refresh": pair["refresh"]}
    )
    assert status == 200 and fresh["access"]
    agent = browser.as_(fresh["access"])
    status, me = await agent.call("GET", "/api/me/")
    assert status == 200 and me["role"] == "agent"
    assert {"is_available", "capacity"} <= set(me)
    status, presence = await agent.call(
        "POST", "/api/me/availability/", json={"is_available": True, "capacity": 5}
    )
    assert status == 200 and presence == {"is_available": True, "capacity": 5}
    status, presence = await agent.call("GET", "/api/me/availability/")
    assert presence == {"is_available": True, "capacity": 5}


async def test_otp_signup_with_the_otp_field(team: Team, sink):
    """S1-4, S1-5 (`otp` as well as `code`), S1-6's registration with the token."""
    browser = _as(team, None)
    status, _ = await browser.call(
        "POST", "/api/auth/request-otp/", json={"email": "ivy@example.org"}
    )
    assert status == 202
    mails = await wait_for_value(lambda: sink.to("ivy@example.org"), what="the code mail")
    code = re.search(r"code is (\d{6})", mails[0].get_body(("plain",)).get_content())
    assert code is not None
    status, verified = await browser.call(
        "POST", "/api/auth/verify-otp/", json={"email": "ivy@example.org", "otp": code.group(1)}
    )
    assert status == 200 and verified["verification_token"]
    status, created = await browser.call(
        "POST",
        "/api/auth/register/",
        json={
            "email": "ivy@example.org",
            "password": "a long password",
            "name": "Ivy",
            "verification_token": verified["verification_token"],
        },
    )
    assert status == 201 and created["user"]["role"] == "customer" and created["access"]


async def test_a_customer_opens_a_ticket_and_reads_it_in_s1s_names(team: Team):
    """S1-16, S1-17, S1-19, S1-30, S1-31, S1-34, S1-35, S1-36: the create body of the seed's
    docs; `customer`, `assigned_agent`, `description` on the ticket; `author` and `ticket`
    on its messages; the list and the search answer the same names."""
    carol = _as(team, "carol")
    status, ticket = await carol.call(
        "POST",
        "/api/tickets/",
        json={
            "subject": "Printer not working",
            "description": "It shows error code 123.",
            "priority": "MEDIUM",
        },
    )
    assert status == 201, ticket
    assert ticket["customer"] == team.id("carol") and ticket["assigned_agent"] is None
    assert ticket["description"] == "It shows error code 123."
    assert (ticket["status"], ticket["priority"]) == ("OPEN", "MEDIUM")
    assert ticket["created_at"] and ticket["updated_at"]
    [first] = ticket["messages"]
    assert first["author"] == team.id("carol") and first["ticket"] == ticket["id"]
    assert first["body"] == "It shows error code 123." and first["is_internal"] is False
    status, listed = await carol.call("GET", "/api/tickets/")
    assert status == 200 and set(listed) >= {"count", "next", "previous", "results"}
    [row] = listed["results"]
    assert row["customer"] == team.id("carol") and row["assigned_agent"] is None
    status, everything = await _as(team, "admin").call("GET", "/api/tickets/")
    assert [t["id"] for t in everything["results"]] == [ticket["id"]]  # S1-41
    assert (await _as(team, "dave").call("GET", "/api/tickets/"))[1]["count"] == 0  # S1-43
    status, found = await _as(team, "admin").call("GET", "/api/tickets/search/?q=printer")
    assert status == 200 and found["results"][0]["customer"] == team.id("carol")
    status, detail = await carol.call("GET", f"/api/tickets/{ticket['id']}/")
    assert detail["description"] == "It shows error code 123."


async def test_staff_open_a_ticket_without_a_customer(team: Team, daemon):
    """S1-18: the same body from an agent opens an internal ticket; its requester is the
    agent, and nobody is mailed an acknowledgement."""
    agent = _as(team, "agent1")
    status, ticket = await agent.call(
        "POST",
        "/api/tickets/",
        json={"subject": "Restock toner", "description": "Floor 2 is out.", "priority": "LOW"},
    )
    assert status == 201, ticket
    assert ticket["customer"] == team.id("agent1") and ticket["description"] == "Floor 2 is out."
    status, _ = await _as(team, "carol").call("GET", f"/api/tickets/{ticket['id']}/")
    assert status == 404  # a customer never sees it
    status, mine = await agent.call("GET", f"/api/tickets/{ticket['id']}/")
    assert status == 200 and mine["messages"][0]["author"] == team.id("agent1")
    # The ticket's changes were committed with their mail: none was queued for it.
    assert await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket["id"]) == []


async def test_agents_work_a_ticket_and_its_socket_says_so_in_s1s_names(team: Team):
    """S1-20, S1-22, S1-45, S1-48..S1-50: reply, assign and status change, each answered
    with S1's names and told on /ws/tickets/<id>/ with the payload next to `type`."""
    ticket_id = await team.open_ticket("carol", "Router down")
    admin = _as(team, "admin")
    ws = await admin.socket(f"/ws/tickets/{ticket_id}/")
    status, body = await admin.call(
        "POST", f"/api/tickets/{ticket_id}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert status == 200 and body["assigned_agent"] == team.id("agent1")
    frame = await ws.receive_json(timeout=10)
    assert frame["type"] == "assignment_updated"
    assert frame["ticket"]["assigned_agent"] == team.id("agent1")
    assert frame["data"]["ticket"] == frame["ticket"]  # postdesk's own clients read `data`
    agent = _as(team, "agent1")
    status, message = await agent.call(
        "POST",
        f"/api/tickets/{ticket_id}/messages/",
        json={"body": "Can you share a photo of the error?", "is_internal": False},
    )
    assert status == 201 and message["author"] == team.id("agent1")
    assert message["ticket"] == ticket_id
    frame = await until(ws, "message_created")
    assert frame["message"]["author"] == team.id("agent1")
    assert frame["message"]["body"] == "Can you share a photo of the error?"
    status, moved = await agent.call(
        "POST", f"/api/tickets/{ticket_id}/set-status/", json={"status": "IN_PROGRESS"}
    )
    assert status == 200 and moved["status"] == "IN_PROGRESS"
    frame = await until(ws, "status_changed")
    while frame["to"] != "IN_PROGRESS":  # a public reply may have moved it first
        frame = await until(ws, "status_changed")
    assert frame["from"] in ("ASSIGNED", "WAITING_ON_CUSTOMER")
    assert frame["ticket"]["customer"] == team.id("carol")
    await ws.close()


async def test_admin_tools(team: Team):
    """S1-9, S1-10, S1-59: creating an agent; the analytics the admin view reads; agents
    are refused."""
    admin = _as(team, "admin")
    status, user = await admin.call(
        "POST",
        "/api/admin/users/",
        json={"email": "new.agent@localhost", "role": "agent", "name": "New Agent"},
    )
    assert status == 201 and user["role"] == "agent"
    for path in (
        "/api/analytics/summary/",
        "/api/analytics/volume/?days=30",
        "/api/analytics/resolution/",
    ):
        assert (await admin.call("GET", path))[0] == 200, path
        status, body = await _as(team, "agent1").call("GET", path)
        assert status == 403 and body["error"] == "forbidden"
