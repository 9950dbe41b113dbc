"""Once per cluster: a job runs only in the process that claims its row. The claim is one
conditional UPDATE (atomic on SQLite and PostgreSQL alike) that takes a lease with an
expiry: a process that dies mid-job holds the job only until the lease runs out, and since
every job does its work in transactions of its own, what it left behind is whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from desk.db import Database, insert_ignoring_conflicts
from desk.models import JobRun, utcnow

LEASE = timedelta(minutes=10)


async def register(
    db: Database, name: str, description: str, interval_seconds: float, next_run_at: datetime | None
) -> None:
    """Make the job known (so admins see it before its first run) and say when it is due."""
    async with db.writer() as session:
        await session.execute(
            insert_ignoring_conflicts(session, JobRun).values(
                name=name,
                description=description,
                interval_seconds=int(interval_seconds),
                last_result="",
                runs=0,
                failures=0,
            )
        )
        await session.execute(
            update(JobRun)
            .where(JobRun.name == name)
            .values(
                description=description,
                interval_seconds=int(interval_seconds),
                next_run_at=next_run_at,
            )
        )


async def claim(db: Database, name: str, owner: str, min_gap: timedelta) -> bool:
    """Take the job if nobody holds it and nobody started it in the last `min_gap` (another
    replica's scheduler ticks at its own moments; the gap keeps one run per interval)."""
    now = utcnow()
    async with db.writer() as session:
        result = await session.execute(
            update(JobRun)
            .where(
                JobRun.name == name,
                or_(JobRun.lease_until.is_(None), JobRun.lease_until < now),
                or_(JobRun.last_started_at.is_(None), JobRun.last_started_at <= now - min_gap),
            )
            .values(lease_owner=owner, lease_until=now + LEASE, last_started_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(
    db: Database,
    name: str,
    owner: str,
    *,
    result: str,
    error: str | None,
    next_run_at: datetime | None,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_until": None,
        "last_finished_at": now,
        "runs": JobRun.runs + 1,
        "last_result": result,
        "next_run_at": next_run_at,
    }
    if error is not None:
        values.update(last_error=error, last_error_at=now, failures=JobRun.failures + 1)
    async with db.writer() as session:
        await session.execute(
            update(JobRun).where(JobRun.name == name, JobRun.lease_owner == owner).values(values)
        )


async def list_jobs(db: Database) -> list[dict[str, Any]]:
    async with db.reader() as session:
        jobs = await session.scalars(select(JobRun).order_by(JobRun.name))
        now = utcnow()
        return [job_data(job, now) for job in jobs]


def job_data(job: JobRun, now: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "name": job.name,
        "description": job.description,
        "interval_seconds": job.interval_seconds,
        "running": job.lease_until is not None and job.lease_until > now,
        "last_started_at": iso(job.last_started_at),
        "last_finished_at": iso(job.last_finished_at),
        "last_result": job.last_result,
        "last_error": job.last_error,
        "last_error_at": iso(job.last_error_at),
        "next_run_at": iso(job.next_run_at),
        "runs": job.runs,
        "failures": job.failures,
    }
