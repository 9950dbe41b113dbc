"""What the pages say beyond what the caller may see, and how they say it, over a plain
HTTP client against the real server: the inbox's side list offers only the caller's
queues and the tags on tickets they may see; the ticket history names the assignee; times
read "just now", never "just now ago"."""

from __future__ import annotations

import re

import aiohttp

from desk.models.base import utcnow
from tests.people import PASSWORD, Team
from web.pages.filters import ago


async def _page(base: str, email: str, path: str) -> str:
    """`path` as `email` sees it, signed in through the form."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/login") as r:
            found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', await r.text())
            assert found
        form = {"email": email, "password": PASSWORD, "csrf_token": found.group(1), "next": ""}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        async with http.get(f"{base}{path}") as r:
            assert r.status == 200, path
            return await r.text()


async def _queue_with(team: Team, name: str, member: str | None) -> int:
    code, queue = await team.call(
        "admin", "POST", "/api/queues/", json={"name": name, "visibility": "team"}
    )
    assert code == 201, queue
    if member:
        code, _ = await team.call(
            "admin",
            "POST",
            f"/api/queues/{queue['id']}/members/",
            json={"user_id": team.id(member), "role": "user"},
        )
        assert code == 201
    return int(queue["id"])


async def _tagged(team: Team, queue: int, subject: str, tag: str) -> int:
    ticket = await team.open_ticket(
        "admin", subject, customer_email="carol@example.com", queue=queue
    )
    code, body = await team.call("admin", "PATCH", f"/api/tickets/{ticket}/", json={"tags": [tag]})
    assert code == 200, body
    return ticket


async def test_the_inbox_side_list_keeps_to_the_caller_s_queues_and_tickets(team: Team):
    sales = await _queue_with(team, "Sales team", "agent1")
    billing = await _queue_with(team, "Billing team", None)
    await _tagged(team, sales, "Lead", "hot-lead")
    await _tagged(team, billing, "Refund", "refund-fraud")
    mine = await _page(team.api.base, "agent1@localhost", "/app/")
    assert "Sales team" in mine and "hot-lead" in mine
    assert "Billing team" not in mine and "refund-fraud" not in mine
    everything = await _page(team.api.base, "admin@localhost", "/app/")
    for shown in ("Sales team", "Billing team", "hot-lead", "refund-fraud"):
        assert shown in everything, shown


async def test_the_history_names_the_assignee_and_times_read_as_said(team: Team):
    ticket = await team.open_ticket("carol", "Printer")
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/assign/",
        json={"assigned_agent": team.id("agent1")},
    )
    assert code == 200
    html = await _page(team.api.base, "admin@localhost", f"/app/tickets/{ticket}/")
    [line] = [li for li in re.findall(r"<li>.*?</li>", html, re.S) if "assigned the" in li]
    said = " ".join(re.sub(r"<[^>]+>", " ", line).split())
    assert "assigned the ticket to Agent1" in said, said
    assert str(team.id("agent1")) not in said.split(), said
    assert "just now ago" not in html and "just now" in html
    portal = await _page(team.api.base, "carol@example.com", "/portal/")
    assert "just now ago" not in portal and "just now" in portal
    assert (ago(utcnow()), ago(None)) == ("just now", "")
