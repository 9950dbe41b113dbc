"""Scheduled jobs in a running daemon: auto-assignment (on its own, after a new ticket or a
change of availability), archival, clean-up, the once-per-cluster lease, and what admins see
at /api/admin/jobs/."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from sqlalchemy import update

from daemon.scheduler import JobSpec, Scheduler
from desk.context import open_desk
from desk.models import (
    AuthSession,
    EventRecord,
    JobRun,
    OtpCode,
    Ticket,
    TicketChange,
    utcnow,
)
from tests.people import Team
from tests.support import make_mail, rows, send, settled, wait_for, wait_for_value


async def _available(team: Team, who: str, capacity: int = 10, on: bool = True) -> None:
    status, _ = await team.call(
        who, "POST", "/api/me/availability/", json={"is_available": on, "capacity": capacity}
    )
    assert status == 200


async def _assignee(daemon, ticket_id: int) -> int | None:
    [ticket] = await rows(daemon, Ticket, Ticket.id == ticket_id)
    return ticket.assigned_agent_id


async def test_new_tickets_go_to_the_least_loaded_available_agent(team: Team, daemon):
    await _available(team, "agent1")
    await _available(team, "agent2")
    first = await team.open_ticket("carol", "first")
    one = await wait_for(lambda: _assignee(daemon, first), what="first assignment")
    # Both had nothing: the tie went to one of them; the next goes to the other (fewer
    # active tickets), and the third to whoever has been idle longest.
    second = await team.open_ticket("dave", "second")
    two = await wait_for(lambda: _assignee(daemon, second), what="second assignment")
    assert {one, two} == {team.id("agent1"), team.id("agent2")}
    third = await team.open_ticket("carol", "third")
    assert await wait_for(lambda: _assignee(daemon, third), what="third") == one
    [ticket] = await rows(daemon, Ticket, Ticket.id == first)
    assert ticket.status == "ASSIGNED"
    history = await rows(daemon, TicketChange, TicketChange.ticket_id == first)
    assert any(c.field == "assigned_agent" and c.actor_id is None for c in history)


async def test_waiting_tickets_go_to_an_agent_who_becomes_available(team: Team, daemon, sink):
    waiting = await team.open_ticket("carol", "nobody is here")
    full = await team.open_ticket("dave", "still nobody")
    await daemon.scheduler.run("auto-assign")
    assert await _assignee(daemon, waiting) is None  # no agent available: it waits
    await _available(team, "agent2", capacity=1)
    assert await wait_for(lambda: _assignee(daemon, waiting), what="assignment") == team.id(
        "agent2"
    )
    await daemon.scheduler.run("auto-assign")
    assert await _assignee(daemon, full) is None  # agent2 is at capacity
    # The agent is told, as for any assignment.
    await wait_for_value(lambda: sink.to("agent2@localhost"), what="assignment mail")
    # Resolving frees capacity: the other ticket follows.
    status, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{waiting}/set-status/", json={"status": "RESOLVED"}
    )
    assert status == 200
    assert await wait_for(lambda: _assignee(daemon, full), what="freed") == team.id("agent2")


async def test_mail_to_the_desk_is_assigned_too(team: Team, daemon):
    await _available(team, "agent1")
    raw, _ = make_mail(sender="hal@example.org")
    await send(daemon.smtp_port, raw, sender="hal@example.org")
    await settled(daemon, 1)

    async def assigned() -> int | None:
        tickets = await rows(daemon, Ticket)
        return tickets[0].assigned_agent_id if tickets else None

    assert await wait_for(assigned, what="assignment") == team.id("agent1")


async def test_archival_archives_only_what_is_old_enough(team: Team, daemon):
    old = await team.open_ticket("carol", "old")
    recent = await team.open_ticket("dave", "recent")
    for t in (old, recent):
        status, _ = await team.call(
            "admin", "POST", f"/api/tickets/{t}/set-status/", json={"status": "RESOLVED"}
        )
        assert status == 200
    async with daemon.desk.db.writer() as session:  # resolved 25 hours ago (setting: 24)
        await session.execute(
            update(Ticket)
            .where(Ticket.id == old)
            .values(resolved_at=utcnow() - timedelta(hours=25))
        )
    assert await daemon.scheduler.run("archive")
    [o] = await rows(daemon, Ticket, Ticket.id == old)
    [r] = await rows(daemon, Ticket, Ticket.id == recent)
    assert o.archived_at is not None and r.archived_at is None
    status, listed = await team.call("admin", "GET", "/api/tickets/")
    assert [t["id"] for t in listed["results"]] == [recent]
    [job] = await rows(daemon, JobRun, JobRun.name == "archive")
    assert job.last_result == "1" and job.runs == 1 and job.last_error is None


async def test_clean_up_deletes_only_what_is_expired(team: Team, daemon):
    now = utcnow()
    async with daemon.desk.db.writer() as session:
        session.add_all(
            [
                OtpCode(
                    email="old@example.com", code_hash="x", expires_at=now - timedelta(hours=1)
                ),
                OtpCode(
                    email="new@example.com", code_hash="y", expires_at=now + timedelta(minutes=5)
                ),
                AuthSession(
                    id="a" * 32,
                    user_id=team.id("carol"),
                    current_jti="j" * 32,
                    created_at=now - timedelta(days=30),
                ),
                EventRecord(type="ticket.updated", data={}, created_at=now - timedelta(days=8)),
            ]
        )
    sessions_before = len(await rows(daemon, AuthSession))
    events_before = len(await rows(daemon, EventRecord))
    assert await daemon.scheduler.run("cleanup")
    assert [c.email for c in await rows(daemon, OtpCode)] == ["new@example.com"]
    assert len(await rows(daemon, AuthSession)) == sessions_before - 1
    assert len(await rows(daemon, EventRecord)) == events_before - 1
    # Logged-in people were not logged out.
    assert (await team.call("carol", "GET", "/api/me/"))[0] == 200


async def test_a_job_runs_once_per_cluster(team: Team, daemon, settings):
    """A second process on the same database: when both schedulers fire, one runs."""
    async with open_desk(settings, migrate=False) as other_desk, aiohttp.ClientSession() as http:
        other = Scheduler(other_desk, composer=_no_compose, http=http)
        ran = await asyncio.gather(daemon.scheduler.run("archive"), other.run("archive"))
        assert sorted(ran) == [False, True]
        [job] = await rows(daemon, JobRun, JobRun.name == "archive")
        assert job.runs == 1 and job.lease_owner is None
        # Right after, neither runs it again (half an interval must pass) ...
        assert not await other.run("archive")
        # ... and a process that died holding the lease holds it only until it expires.
        async with daemon.desk.db.writer() as session:
            held = {"lease_owner": "dead-host:1", "lease_until": utcnow() + timedelta(minutes=5)}
            await session.execute(update(JobRun).where(JobRun.name == "cleanup").values(held))
        assert not await other.run("cleanup")
        async with daemon.desk.db.writer() as session:
            await session.execute(
                update(JobRun)
                .where(JobRun.name == "cleanup")
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        assert await other.run("cleanup")


async def _no_compose(_spec: dict, _message_id: str) -> bytes:
    raise AssertionError("nothing is composed in this test")


async def test_admins_see_each_job_and_its_last_error(team: Team, daemon):
    async def broken() -> object:
        raise RuntimeError("the disk is on fire")

    daemon.scheduler.jobs["broken"] = JobSpec(
        "broken", "fails on purpose", 3600, broken, timedelta(0)
    )
    async with daemon.desk.db.writer() as session:
        session.add(JobRun(name="broken", description="fails on purpose", interval_seconds=3600))
    assert await daemon.scheduler.run("broken")
    status, body = await team.call("admin", "GET", "/api/admin/jobs/")
    assert status == 200
    jobs = {j["name"]: j for j in body["results"]}
    assert {"auto-assign", "archive", "cleanup", "outbox-retry", "webhook-retry"} <= set(jobs)
    assert (
        jobs["archive"]["next_run_at"] is not None and jobs["archive"]["interval_seconds"] == 3600
    )
    assert jobs["broken"]["last_error"] == "RuntimeError: the disk is on fire"
    assert jobs["broken"]["failures"] == 1 and not jobs["broken"]["running"]
    assert (await team.call("agent1", "GET", "/api/admin/jobs/"))[0] == 403
