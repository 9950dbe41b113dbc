"""Admin analytics over real tickets whose times are set in the database, so every number
asserted is worked out by hand: counts, days with zeros, averages and medians."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from desk.models import Ticket, TicketMessage
from tests.people import Team

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


async def _set(daemon, ticket: int, **values: Any) -> None:
    async with daemon.desk.db.writer() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket).values(**values))


async def _reply_after(
    daemon,
    team: Team,
    who: str,
    ticket: int,
    seconds: int,
    created: datetime,
    internal: bool = False,
) -> None:
    status, message = await team.call(
        who,
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "On it", "is_internal": internal},
    )
    assert status == 201
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(TicketMessage)
            .where(TicketMessage.id == message["id"])
            .values(created_at=created + timedelta(seconds=seconds))
        )


async def _resolved(daemon, team: Team, agent: str, created: datetime, seconds: int) -> int:
    ticket = await team.open_ticket("carol", f"resolved in {seconds}s")
    await team.call(
        "admin", "POST", f"/api/tickets/{ticket}/assign/", json={"assigned_agent": team.id(agent)}
    )
    status, _ = await team.call(
        agent, "POST", f"/api/tickets/{ticket}/set-status/", json={"status": "RESOLVED"}
    )
    assert status == 200
    await _set(daemon, ticket, created_at=created, resolved_at=created + timedelta(seconds=seconds))
    return ticket


async def _desk(daemon, team: Team) -> dict[str, int]:
    two_days_ago = TODAY - timedelta(days=2)
    # agent1 resolves in 1 h, 2 h, 10 h; agent2 in 30 min (all created two days ago).
    for agent, seconds in (("agent1", 3600), ("agent1", 7200), ("agent1", 36000), ("agent2", 1800)):
        await _resolved(daemon, team, agent, two_days_ago, seconds)
    # First answers on tickets opened yesterday: agent1 after 10 and 20 min (a note earlier
    # does not count: the customer never saw it), agent2 after 5 min.
    yesterday = TODAY - timedelta(days=1)
    answered = {}
    for name, agent, seconds in (
        ("t1", "agent1", 600),
        ("t2", "agent1", 1200),
        ("t3", "agent2", 300),
    ):
        ticket = await team.open_ticket("dave", name, priority="HIGH")
        await _set(daemon, ticket, created_at=yesterday)
        if name == "t1":
            await _reply_after(daemon, team, "agent2", ticket, 60, yesterday, internal=True)
        await _reply_after(daemon, team, agent, ticket, seconds, yesterday)
        await _reply_after(daemon, team, "agent2", ticket, seconds + 99, yesterday)  # later
        answered[name] = ticket
    await team.call(
        "admin",
        "POST",
        f"/api/tickets/{answered['t1']}/assign/",
        json={"assigned_agent": team.id("agent1")},
    )
    return answered


async def test_summary_volume_and_resolution_add_up(team: Team, daemon):
    await _desk(daemon, team)
    status, summary = await team.call("admin", "GET", "/api/analytics/summary/")
    assert status == 200
    assert summary["total"] == 7 and summary["backlog"] == 3 and summary["unassigned"] == 2
    assert summary["by_status"] == {
        "OPEN": 2,
        "ASSIGNED": 1,
        "IN_PROGRESS": 0,
        "WAITING_ON_CUSTOMER": 0,
        "RESOLVED": 4,
        "CLOSED": 0,
    }
    assert summary["backlog_by_priority"] == {"LOW": 0, "MEDIUM": 0, "HIGH": 3, "URGENT": 0}

    status, volume = await team.call("admin", "GET", "/api/analytics/volume/?days=4")
    assert status == 200 and volume["days"] == 4
    day = [(TODAY - timedelta(days=n)).date().isoformat() for n in (3, 2, 1, 0)]
    assert volume["results"] == [
        {"date": day[0], "created": 0, "resolved": 0},
        {"date": day[1], "created": 4, "resolved": 4},
        {"date": day[2], "created": 3, "resolved": 0},
        {"date": day[3], "created": 0, "resolved": 0},
    ]

    status, report = await team.call("admin", "GET", "/api/analytics/resolution/?days=7")
    assert status == 200
    assert report["overall"] == {
        "resolution_count": 4,
        "resolution_average_seconds": 12150.0,
        "resolution_median_seconds": 5400.0,
        "first_response_count": 3,
        "first_response_average_seconds": 700.0,
        "first_response_median_seconds": 600.0,
    }
    agents = {a["email"]: a for a in report["agents"]}
    one, two = agents["agent1@localhost"], agents["agent2@localhost"]
    assert (
        one["resolution_count"],
        one["resolution_average_seconds"],
        one["resolution_median_seconds"],
    ) == (3, 15600.0, 7200.0)
    assert (one["first_response_count"], one["first_response_median_seconds"]) == (2, 900.0)
    assert (two["resolution_median_seconds"], two["first_response_average_seconds"]) == (
        1800.0,
        300.0,
    )

    # A period that holds none of it.
    since = (TODAY - timedelta(days=30)).isoformat()
    until = (TODAY - timedelta(days=20)).isoformat()
    status, empty = await team.call(
        "admin", "GET", "/api/analytics/resolution/", params={"since": since, "until": until}
    )
    assert status == 200 and empty["agents"] == []
    assert empty["overall"]["resolution_count"] == 0
    assert empty["overall"]["resolution_median_seconds"] is None


async def test_csv_and_bad_parameters(team: Team, daemon):
    await _desk(daemon, team)
    async with team.api.http.get(
        f"{team.api.base}/api/analytics/resolution/?format=csv",
        headers={"Authorization": f"Bearer {team.tokens['admin']}"},
    ) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        table = list(csv.DictReader(io.StringIO(await r.text())))
    assert [row["agent_id"] for row in table][-1] == "all"
    assert table[-1]["resolution_median_seconds"] == "5400.0"
    async with team.api.http.get(
        f"{team.api.base}/api/analytics/volume/?format=csv&days=2",
        headers={"Authorization": f"Bearer {team.tokens['admin']}"},
    ) as r:
        lines = (await r.text()).splitlines()
    assert lines[0] == "date,created,resolved" and len(lines) == 3
    for query, field in (
        ("volume/?days=0", "days"),
        ("volume/?days=400", "days"),
        ("summary/?format=xml", "format"),
        ("resolution/?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("resolution/?since=yesterday", "since"),
    ):
        status, body = await team.call("admin", "GET", f"/api/analytics/{query}")
        assert status == 400 and field in body["details"]["fields"], (query, body)
