"""Ticket lists and details remembered per database state (web/responses.py): asked again
before anything changed they cost only the caller check, yet a change of any kind shows
at the very next request, each person gets only their own answers, and an ended session
or a deactivated account is still shut out at once."""

from __future__ import annotations

import asyncio

from tests.people import Team
from tests.support import make_mail, send, settled


async def subjects(team: Team, who: str) -> list[str]:
    status, body = await team.call(who, "GET", "/api/tickets/?ordering=created_at")
    assert status == 200, body
    return [t["subject"] for t in body["results"]]


async def test_asked_again_unchanged_costs_only_the_caller_check(
    team: Team, read_statements, backend
):
    ticket = await team.open_ticket("carol", "Printer")
    for path in ("/api/tickets/", f"/api/tickets/{ticket}/"):
        first = await team.call("agent1", "GET", path)
        # On PostgreSQL, background writes (sending the acknowledgement) change the
        # snapshot for a while; wait until the desk is quiet.
        for _ in range(50 if backend == "postgres" else 1):
            read_statements.clear()
            assert await team.call("agent1", "GET", path) == first
            if len(read_statements) == 1:
                break
            await asyncio.sleep(0.1)
        if backend == "postgres":
            assert len(read_statements) == 1  # the caller check, nothing else
        else:  # SQLite has no snapshot to key on: every answer is built anew
            assert len(read_statements) > 1


async def test_every_kind_of_change_shows_at_the_next_request(team: Team, daemon):
    ticket = await team.open_ticket("carol", "Printer")
    assert await subjects(team, "agent1") == ["Printer"]
    status, _ = await team.call(
        "agent2",
        "PATCH",
        f"/api/tickets/{ticket}/",
        json={"subject": "Printer on fire", "tags": ["hot"]},
    )
    assert status == 200
    assert await subjects(team, "agent1") == ["Printer on fire"]
    status, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert detail["tags"] == ["hot"]
    # mail turned into a ticket by the intake, not through the API
    await send(daemon.smtp_port, make_mail(subject="By mail")[0])
    await settled(daemon, 1)
    assert await subjects(team, "agent1") == ["Printer on fire", "By mail"]
    # taken by another agent: no longer in agent1's view (assigned elsewhere)
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/assign/",
        json={"assigned_agent": team.id("agent2")},
    )
    assert status == 200
    assert await subjects(team, "agent1") == ["By mail"]
    status, _ = await team.call(
        "agent2",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "On it", "is_internal": False},
    )
    assert status == 201
    status, detail = await team.call("carol", "GET", f"/api/tickets/{ticket}/")
    assert [m["body"] for m in detail["messages"]][-1] == "On it"


async def test_same_url_different_people_different_answers(team: Team):
    await team.open_ticket("carol", "Carol's")
    await team.open_ticket("dave", "Dave's")
    assert await subjects(team, "carol") == ["Carol's"]
    assert await subjects(team, "dave") == ["Dave's"]
    assert await subjects(team, "carol") == ["Carol's"]
    assert await subjects(team, "admin") == ["Carol's", "Dave's"]


async def test_shut_out_at_once_even_when_the_answer_is_remembered(team: Team):
    await team.open_ticket("carol", "Printer")
    assert await subjects(team, "agent1") == ["Printer"]
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('agent1')}/", json={"is_active": False}
    )
    assert status == 200
    assert (await team.call("agent1", "GET", "/api/tickets/?ordering=created_at"))[0] == 401
    assert await subjects(team, "agent2") == ["Printer"]
