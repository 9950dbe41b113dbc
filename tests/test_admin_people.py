"""Admins manage people and companies; a company admin sees the company's tickets."""

from __future__ import annotations

from tests.people import PASSWORD, Team
from tests.support import make_mail, send, settled


async def test_admin_creates_lists_edits_and_deactivates(team: Team, api):
    status, body = await team.call(
        "admin",
        "POST",
        "/api/admin/users/",
        json={"email": "New.Agent@localhost", "role": "agent", "name": "Nia", "password": PASSWORD},
    )
    assert status == 201 and body["email"] == "new.agent@localhost" and body["role"] == "agent"
    nia = body["id"]
    status, body = await team.call(
        "admin", "POST", "/api/admin/users/", json={"email": "new.agent@localhost", "role": "agent"}
    )
    assert status == 409 and "email" in body["details"]["fields"]
    status, listed = await team.call("admin", "GET", "/api/admin/users/?role=agent")
    assert {u["email"] for u in listed["results"]} == {
        "agent1@localhost",
        "agent2@localhost",
        "new.agent@localhost",
    }
    status, one = await team.call("admin", "GET", f"/api/admin/users/{nia}/")
    assert status == 200 and one["name"] == "Nia" and "password_hash" not in one
    token = await api.token("new.agent@localhost", PASSWORD)
    status, body = await team.call(
        "admin",
        "PATCH",
        f"/api/admin/users/{nia}/",
        json={"name": "Nia B.", "capacity": 3, "is_active": False},
    )
    assert status == 200 and body["is_active"] is False and body["capacity"] == 3
    assert (await api.call("GET", "/api/me/", token))[0] == 401  # shut out at once
    status, listed = await team.call("admin", "GET", "/api/admin/users/?is_active=false")
    assert [u["id"] for u in listed["results"]] == [nia]


async def test_admin_rules(team: Team):
    for who in ("carol", "agent1", None):
        for method, path in (
            ("GET", "/api/admin/users/"),
            ("POST", "/api/admin/users/"),
            ("GET", "/api/admin/companies/"),
        ):
            status, _ = await team.call(who, method, path, json={})
            assert status == (401 if who is None else 403), (who, method, path)
    me = team.id("admin")
    status, body = await team.call(
        "admin", "PATCH", f"/api/admin/users/{me}/", json={"is_active": False}
    )
    assert status == 409
    status, body = await team.call("admin", "PATCH", "/api/admin/users/99999/", json={})
    assert status == 404
    status, body = await team.call(
        "admin", "PATCH", f"/api/admin/users/{me}/", json={"role": "wizard"}
    )
    assert status == 400 and "role" in body["details"]["fields"]


async def test_company_admin_sees_the_company_tickets(team: Team, daemon, api):
    mine = await team.open_ticket("carol", "carol's")
    # A colleague at example.com writes in by mail before the company exists.
    raw, _ = make_mail(sender="liam@example.com", name="Liam", subject="liam's")
    await send(daemon.smtp_port, raw, sender="liam@example.com")
    await settled(daemon, 1)
    status, company = await team.call(
        "admin",
        "POST",
        "/api/admin/companies/",
        json={"name": "Example", "domains": ["Example.com"]},
    )
    assert status == 201 and company["domains"] == ["example.com"]
    status, _ = await team.call(
        "admin", "POST", "/api/admin/companies/", json={"name": "Other", "domains": ["example.com"]}
    )
    assert status == 409
    # carol joined by her domain; made company admin, she sees liam's ticket, not others'.
    outsider = await team.open_ticket("agent1", "outsider", customer_email="zed@elsewhere.org")
    status, carol = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('carol')}/", json={"is_company_admin": True}
    )
    assert status == 200 and carol["company_id"] == company["id"], carol
    status, listed = await team.call("carol", "GET", "/api/tickets/")
    assert {t["subject"] for t in listed["results"]} == {"carol's", "liam's"}
    status, listed = await team.call("admin", "GET", f"/api/tickets/?company={company['id']}")
    assert {t["subject"] for t in listed["results"]} == {"carol's", "liam's"}
    assert (await team.call("carol", "GET", f"/api/tickets/{outsider}/"))[0] == 404
    # Mail from a new colleague joins the company at once.
    raw, _ = make_mail(sender="mia@example.com", name="Mia", subject="mia's")
    await send(daemon.smtp_port, raw, sender="mia@example.com")
    await settled(daemon, 2)
    status, listed = await team.call("carol", "GET", "/api/tickets/")
    assert "mia's" in {t["subject"] for t in listed["results"]}
    # Unmapping the domain takes the company's tickets away from her again.
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/companies/{company['id']}/", json={"domains": []}
    )
    assert status == 200
    status, listed = await team.call("carol", "GET", "/api/tickets/")
    assert {t["id"] for t in listed["results"]} == {mine}
    # Only customers belong to companies.
    status, _ = await team.call(
        "admin",
        "PATCH",
        f"/api/admin/users/{team.id('agent1')}/",
        json={"company_id": company["id"]},
    )
    assert status == 400
