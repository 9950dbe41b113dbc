"""A merged ticket takes no write at all, during the undo window too: status, assignee,
fields, tags, time, queue and board moves, archiving are refused with 409 `merged` (one
guard, desk/tickets/guard.py), and nothing about it changes; undoing the merge still works."""

from __future__ import annotations

from typing import Any

from tests.people import Team


async def _merged(team: Team) -> tuple[int, int, int]:
    """carol's ticket merged into another of hers; and a time entry logged before."""
    source = await team.open_ticket("carol", "Invoice")
    target = await team.open_ticket("carol", "Invoice again")
    code, entry = await team.call(
        "agent1", "POST", f"/api/tickets/{source}/time/", json={"minutes": 30}
    )
    assert code == 201, entry
    code, _ = await team.call(
        "admin", "POST", f"/api/tickets/{source}/merge/", json={"into": target}
    )
    assert code == 200
    return source, target, int(entry["id"])


async def _writes(team: Team, source: int, entry: int) -> list[tuple[str, str, dict[str, Any]]]:
    code, other = await team.call("admin", "POST", "/api/queues/", json={"name": "Other"})
    assert code == 201, other
    _, ticket = await team.call("admin", "GET", f"/api/tickets/{source}/")
    _, board = await team.call("admin", "GET", f"/api/queues/{ticket['queue_id']}/board/")
    column = board["columns"][-1]["id"]
    t = f"/api/tickets/{source}/"
    return [
        ("POST", t + "set-status/", {"status": "OPEN"}),
        ("POST", t + "assign/", {"assigned_agent": team.id("agent1")}),
        ("PATCH", t, {"subject": "Renamed"}),
        ("PATCH", t, {"priority": "HIGH"}),
        ("PATCH", t, {"tags": ["billing"]}),
        ("POST", t + "time/", {"minutes": 15}),
        ("PATCH", f"/api/time/{entry}/", {"minutes": 45}),
        ("DELETE", f"/api/time/{entry}/", {}),
        ("POST", t + "move/", {"queue": other["id"]}),
        ("POST", t + "move/", {"column": column}),
        ("POST", t + "archive/", {}),
    ]


async def test_a_merged_ticket_refuses_every_write_and_can_still_be_unmerged(team: Team):
    source, target, entry = await _merged(team)
    _, before = await team.call("admin", "GET", f"/api/tickets/{source}/")
    for method, path, body in await _writes(team, source, entry):
        code, refused = await team.call("admin", method, path, json=body)
        assert code == 409, (method, path, body, code, refused)
        assert refused["details"] == {"reason": "merged", "into": target}, (path, refused)
    _, after = await team.call("admin", "GET", f"/api/tickets/{source}/")
    for name in ("status", "assigned_agent_id", "subject", "priority", "queue_id", "archived"):
        assert after.get(name) == before.get(name), name
    code, times = await team.call("admin", "GET", f"/api/tickets/{source}/time/")
    assert code == 200 and [e["minutes"] for e in times["results"]] == [30]
    # The undo stays allowed, and then the ticket is writable again.
    code, _ = await team.call("admin", "POST", f"/api/tickets/{source}/unmerge/")
    assert code == 200
    code, _ = await team.call("admin", "PATCH", f"/api/tickets/{source}/", json={"subject": "Mine"})
    assert code == 200
