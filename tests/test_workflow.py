"""The ticket workflow over REST: create, status moves, assignment, archive, edits, history
and filters, each with its access rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from desk.models import OutboxMail
from tests.conftest import SHARED
from tests.people import Team
from tests.support import rows, wait_for_value
from tests.test_pages_signin import _signed_in


async def test_customer_opens_ticket_and_is_acknowledged_by_mail(team: Team, sink):
    ticket_id = await team.open_ticket("carol", "Cannot log in", priority="HIGH")
    status, detail = await team.call("carol", "GET", f"/api/tickets/{ticket_id}/")
    assert status == 200 and detail["priority"] == "HIGH" and detail["status"] == "OPEN"
    assert detail["customer_id"] == team.id("carol")
    assert detail["messages"][0]["body"] == "It broke."
    opened, changed = (datetime.fromisoformat(detail[k]) for k in ("created_at", "updated_at"))
    assert opened <= changed  # its first message is its first change
    [ack] = await wait_for_value(lambda: sink.to("carol@example.com"), what="acknowledgement")
    assert f"[#{ticket_id}]" in ack["Subject"] and ack["Auto-Submitted"] == "auto-replied"


async def test_agent_opens_ticket_for_a_new_customer(team: Team, sink):
    status, body = await team.call(
        "agent1",
        "POST",
        "/api/tickets/",
        json={
            "subject": "Phoned in",
            "description": "Called about invoices.",
            "customer_email": "Erin@Example.org",
        },
    )
    assert status == 201, body
    status, users = await team.call("admin", "GET", "/api/admin/users/?search=erin")
    [erin] = users["results"]
    assert erin["role"] == "customer" and not erin["has_password"]
    assert body["customer_id"] == erin["id"]
    await wait_for_value(lambda: sink.to("erin@example.org"), what="the first mail to Erin")
    # Staff who name no customer open an internal ticket (they are its requester); a
    # customer cannot open one for someone else.
    status, body = await team.call(
        "agent1", "POST", "/api/tickets/", json={"subject": "x", "description": "y"}
    )
    assert status == 201 and body["customer_id"] == team.id("agent1")
    status, _ = await team.call(
        "carol",
        "POST",
        "/api/tickets/",
        json={"subject": "x", "description": "y", "customer_email": "dave@example.com"},
    )
    assert status == 403


async def _status(team: Team, who: str, ticket_id: int, status: str) -> tuple[int, dict]:
    return await team.call(
        who, "POST", f"/api/tickets/{ticket_id}/set-status/", json={"status": status}
    )


async def test_status_follows_the_transition_table(team: Team):
    t = await team.open_ticket("carol")
    code, body = await _status(team, "agent1", t, "ASSIGNED")
    assert code == 409 and "assign" in body["message"]
    assert (
        await team.call(
            "agent1",
            "POST",
            f"/api/tickets/{t}/assign/",
            json={"assigned_agent": team.id("agent1")},
        )
    )[0] == 200
    for step in ("IN_PROGRESS", "WAITING_ON_CUSTOMER", "RESOLVED", "CLOSED"):
        code, body = await _status(team, "agent1", t, step)
        assert code == 200 and body["status"] == step, body
    code, body = await _status(team, "agent1", t, "IN_PROGRESS")
    assert code == 409 and body["error"] == "conflict"
    assert body["details"]["allowed"] == ["OPEN"] and "allowed: OPEN" in body["message"]
    # Reopening an assigned ticket lands on ASSIGNED.
    code, body = await _status(team, "agent1", t, "OPEN")
    assert code == 200 and body["status"] == "ASSIGNED"
    code, body = await _status(team, "admin", t, "OPEN")
    assert code == 409  # assigned tickets are unassigned, not set OPEN


async def test_customer_may_only_resolve_or_reopen_their_own(team: Team):
    t = await team.open_ticket("carol")
    code, body = await _status(team, "carol", t, "IN_PROGRESS")
    assert code == 403 and body["details"]["allowed"] == ["RESOLVED"]
    assert body["message"] == "a customer may only resolve or reopen; from OPEN: RESOLVED"
    assert (await _status(team, "carol", t, "CLOSED"))[0] == 403
    assert (await _status(team, "dave", t, "RESOLVED"))[0] == 404
    code, body = await _status(team, "carol", t, "RESOLVED")
    assert code == 200 and body["status"] == "RESOLVED" and body["resolved_at"]
    code, body = await _status(team, "carol", t, "OPEN")
    assert code == 200 and body["status"] == "OPEN" and body["resolved_at"] is None
    assert (await _status(team, "carol", t, "BOGUS"))[0] == 400


async def test_assignment_rules_and_mail(team: Team, sink):
    t = await team.open_ticket("carol")
    assign = f"/api/tickets/{t}/assign/"
    # A member of the queue may hand an unassigned ticket to a colleague in it, but not
    # take a colleague's ticket away (that is a queue manager's); a customer is never an
    # assignee.
    code, _ = await team.call("agent1", "POST", assign, json={"assigned_agent": team.id("agent2")})
    assert code == 200
    code, _ = await team.call("agent1", "POST", assign, json={"assigned_agent": team.id("agent1")})
    assert code == 404  # agent2's now: in an `assigned` queue agent1 no longer sees it
    code, _ = await team.call("admin", "POST", assign, json={"assigned_agent": None})
    assert code == 200
    code, body = await team.call("admin", "POST", assign, json={"assigned_agent": team.id("dave")})
    assert code == 400 and "assigned_agent" in body["details"]["fields"]
    assert (await team.call("carol", "POST", assign, json={"assigned_agent": None}))[0] == 403
    # The admin assigns agent2, who is told by mail; agent1 no longer sees the ticket.
    agent2 = team.id("agent2")
    code, body = await team.call("admin", "POST", assign, json={"assigned_agent": agent2})
    assert code == 200 and body["assigned_agent_id"] == team.id("agent2")
    assert body["status"] == "ASSIGNED"
    # agent2 was told twice: by agent1's hand-off and by the admin's assignment.
    notes = await wait_for_value(
        lambda: sink.to("agent2@localhost") if len(sink.to("agent2@localhost")) >= 2 else [],
        what="both assignment mails",
    )
    assert len(notes) == 2
    for note in notes:
        assert f"[#{t}]" in note["Subject"] and note["Auto-Submitted"] == "auto-generated"
        assert "assigned to you" in note.get_body(("plain",)).get_content()
    assert (await team.call("agent1", "GET", f"/api/tickets/{t}/"))[0] == 404
    # agent2 hands it back; agent1 takes it; nobody is mailed about their own action.
    code, body = await team.call("agent2", "POST", assign, json={"assigned_agent": None})
    assert code == 200 and body["status"] == "OPEN" and body["assigned_agent_id"] is None
    agent1 = team.id("agent1")
    code, body = await team.call("agent1", "POST", assign, json={"assigned_agent": agent1})
    assert code == 200 and body["assigned_agent_id"] == team.id("agent1")
    assert sink.to("agent1@localhost") == []


async def test_archive_only_finished_tickets(team: Team):
    t = await team.open_ticket("carol")
    code, body = await team.call("agent1", "POST", f"/api/tickets/{t}/archive/")
    assert code == 409 and "RESOLVED or CLOSED" in body["message"]
    assert (await team.call("carol", "POST", f"/api/tickets/{t}/archive/"))[0] == 403
    await _status(team, "agent1", t, "RESOLVED")
    code, body = await team.call("agent1", "POST", f"/api/tickets/{t}/archive/")
    assert code == 200 and body["is_archived"]

    async def ids(query: str) -> set[int]:
        code, body = await team.call("admin", "GET", f"/api/tickets/{query}")
        assert code == 200
        return {r["id"] for r in body["results"]}

    assert t not in await ids("") and t in await ids("?archived=true")
    assert t in await ids("?archived=all")
    # Archived tickets take no changes until they come back.
    assert (await _status(team, "agent1", t, "CLOSED"))[0] == 409
    code, _ = await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "x"})
    assert code == 409
    code, body = await team.call("agent1", "POST", f"/api/tickets/{t}/unarchive/")
    assert code == 200 and not body["is_archived"] and t in await ids("")


async def test_patch_edits_and_tags_are_created_on_the_fly(team: Team):
    t = await team.open_ticket("carol", "Old subject")
    code, body = await team.call(
        "agent1",
        "PATCH",
        f"/api/tickets/{t}/",
        json={
            "subject": "New subject",
            "priority": "URGENT",
            "tags": ["Billing", "vip", "billing"],
        },
    )
    assert code == 200, body
    assert body["subject"] == "New subject" and body["priority"] == "URGENT"
    assert body["tags"] == ["billing", "vip"]
    code, listed = await team.call("agent1", "GET", "/api/tickets/?tag=vip")
    assert [r["id"] for r in listed["results"]] == [t] and listed["results"][0]["tags"]
    assert (await team.call("carol", "PATCH", f"/api/tickets/{t}/", json={"priority": "LOW"}))[
        0
    ] == 403
    code, body = await team.call("agent1", "PATCH", f"/api/tickets/{t}/", json={"priority": "X"})
    assert code == 400 and "priority" in body["details"]["fields"]


async def test_history_records_who_what_from_to(team: Team):
    t = await team.open_ticket("carol", "Subject A")
    await team.call(
        "agent1", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    await team.call("agent1", "PATCH", f"/api/tickets/{t}/", json={"tags": ["x"]})
    await _status(team, "carol", t, "RESOLVED")
    code, body = await team.call("admin", "GET", f"/api/tickets/{t}/history/")
    assert code == 200
    seen = [(c["field"], c["from"], c["to"], c["actor_id"]) for c in body["results"]]
    assert seen == [
        ("assigned_agent", None, str(team.id("agent1")), team.id("agent1")),
        ("status", "OPEN", "ASSIGNED", team.id("agent1")),
        ("tags", "", "x", team.id("agent1")),
        ("status", "ASSIGNED", "RESOLVED", team.id("carol")),
    ]
    assert all(c["at"] for c in body["results"])
    # The customer sees the status line, not the team's internal bookkeeping.
    code, body = await team.call("carol", "GET", f"/api/tickets/{t}/history/")
    assert [c["field"] for c in body["results"]] == ["status", "status"]
    assert (await team.call("dave", "GET", f"/api/tickets/{t}/history/"))[0] == 404


async def test_list_filters_ordering_and_pages(team: Team):
    low = await team.open_ticket("carol", "low one", priority="LOW")
    urgent = await team.open_ticket("carol", "urgent one", priority="URGENT")
    daves = await team.open_ticket("dave", "dave's")
    await team.call(
        "admin",
        "POST",
        f"/api/tickets/{urgent}/assign/",
        json={"assigned_agent": team.id("agent2")},
    )

    async def ids(query: str, who: str = "admin") -> list[int]:
        code, body = await team.call(who, "GET", f"/api/tickets/?{query}")
        assert code == 200, body
        return [r["id"] for r in body["results"]]

    assert await ids("priority=LOW") == [low]
    assert set(await ids("priority=LOW,URGENT")) == {low, urgent}
    assert await ids("status=ASSIGNED") == [urgent]
    assert await ids(f"assigned_agent={team.id('agent2')}") == [urgent]
    assert set(await ids("unassigned=true")) == {low, daves}
    assert await ids(f"customer={team.id('dave')}") == [daves]
    assert (await ids("ordering=-priority"))[0] == urgent
    assert (await ids("ordering=priority"))[0] == low
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await ids(f"created_after={future.replace('+', '%2B')}") == []
    assert len(await ids(f"created_after={past.replace('+', '%2B')}")) == 3
    assert len(await ids(f"updated_before={future.replace('+', '%2B')}")) == 3
    # Filters never widen access: carol sees only her own, whatever she asks for.
    assert set(await ids(f"customer={team.id('dave')}", "carol")) == set()
    _, page1 = await team.call("admin", "GET", "/api/tickets/?page_size=2&ordering=id")
    assert page1["count"] == 3 and len(page1["results"]) == 2 and page1["previous"] is None
    assert page1["next"]
    async with team.api.http.get(
        page1["next"], headers={"Authorization": f"Bearer {team.tokens['admin']}"}
    ) as r:
        page2 = await r.json()
    assert [x["id"] for x in page2["results"]] == [daves] and page2["next"] is None
    assert page2["previous"]


@pytest.mark.parametrize(
    "query,field",
    [
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-01-01T00:00:00", "created_after"),  # no timezone
        ("assigned_agent=abc", "assigned_agent"),
        ("archived=maybe", "archived"),
        ("priority=LOW,NOPE", "priority"),
        ("page_size=1000", "page_size"),
        ("surprise=1", "surprise"),
    ],
)
@SHARED
async def test_bad_filters_name_the_field(shared_team: Team, query, field):
    code, body = await shared_team.call("admin", "GET", f"/api/tickets/?{query}")
    assert code == 400 and field in body["details"]["fields"], body


async def test_a_page_costs_the_same_statements_whatever_its_size(team: Team, read_statements):
    """No N+1: the list runs the same SQL statements for 2 tickets as for 12 (tags too)."""
    for i in range(12):
        t = await team.open_ticket("carol", f"ticket {i}")
        await team.call("agent1", "PATCH", f"/api/tickets/{t}/", json={"tags": [f"t{i}", "x"]})
    statements, counts = read_statements, {}
    for size in (2, 12):
        statements.clear()
        code, body = await team.call("agent1", "GET", f"/api/tickets/?page_size={size}")
        assert code == 200 and len(body["results"]) == size
        assert all(len(r["tags"]) == 2 for r in body["results"])
        # The caller check (users joined to their queue memberships) is not a ticket read.
        counts[size] = len([s for s in statements if "tickets" in s and "queue_members" not in s])
    assert 1 <= counts[2] == counts[12] <= 2


async def _mail_to(daemon, address: str) -> list[str]:
    """The kinds of the outbox rows to `address`, oldest first."""
    return [m.kind for m in await rows(daemon, OutboxMail, OutboxMail.recipient == address)]


async def test_a_reply_sent_with_a_status_change_is_the_customer_s_only_mail(team: Team, daemon):
    """ "Send and resolve" / "Send and set waiting", by the API and by the page: the customer
    gets the reply, not also "... has been marked resolved"; a status change on its own
    still tells them."""
    carol = "carol@example.com"
    ticket_id = await team.open_ticket("carol", "Reply and resolve")
    path = f"/api/tickets/{ticket_id}/messages/"
    code, body = await team.call(
        "agent1", "POST", path, json={"body": "Fixed it.", "status": "RESOLVED"}
    )
    assert code == 201, body
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket_id}/")
    assert detail["status"] == "RESOLVED"
    assert await _mail_to(daemon, carol) == ["acknowledgement", "reply"]
    # A refused move refuses the reply too (one action): nothing is queued.
    code, body = await team.call(
        "agent1", "POST", path, json={"body": "Waiting?", "status": "WAITING_ON_CUSTOMER"}
    )
    assert code == 409 and "cannot move from RESOLVED" in body["message"], body
    assert await _mail_to(daemon, carol) == ["acknowledgement", "reply"]
    # On its own, a status change still tells the customer.
    assert (await _status(team, "agent1", ticket_id, "OPEN"))[0] == 200
    assert await _mail_to(daemon, carol) == ["acknowledgement", "reply", "status_changed"]
    # The page's "Send and set waiting": the same rule.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await _signed_in(http, team.api.base, "agent1@localhost")
        form = {
            "csrf_token": token,
            "mode": "reply",
            "to": carol,
            "cc": "",
            "body": "Which printer is it?",
            "then": "WAITING_ON_CUSTOMER",
        }
        url = f"{team.api.base}/app/tickets/{ticket_id}/messages"
        async with http.post(url, data=form) as r:
            assert r.status == 200 and "Which printer is it?" in await r.text()
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket_id}/")
    assert detail["status"] == "WAITING_ON_CUSTOMER"
    kinds = ["acknowledgement", "reply", "status_changed", "reply"]
    assert await _mail_to(daemon, carol) == kinds
    # A note with a status change: the customer got nothing else, so they are told.
    code, _ = await team.call(
        "agent1",
        "POST",
        path,
        json={"body": "Closing.", "is_internal": True, "status": "RESOLVED"},
    )
    assert code == 201
    assert await _mail_to(daemon, carol) == [*kinds, "status_changed"]
