"""The scheduled jobs (APScheduler's AsyncIOScheduler in the daemon's loop). Every process
running the jobs role schedules every job; the lease in desk/jobs/runs.py lets only one of
them run it at a time, and not again before half its interval has passed. Auto-assignment
also runs soon after any change that may give it work (a new ticket, an agent becoming
available, a ticket leaving someone's plate), wherever in the cluster that change happened:
the event arrives through the bus."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from daemon.outbound.sender import Composer, send_due
from daemon.outbound.transport import Relay
from daemon.webhook_sender import deliver_due
from desk.context import Desk
from desk.events import Event
from desk.events.people import AgentAvailability
from desk.events.tickets import StatusChanged, TicketAssigned, TicketCreated
from desk.jobs import runs
from desk.jobs.assignment import anyone_available, assign_waiting
from desk.jobs.housekeeping import archive_finished, clean_up
from desk.jobs.retention import drop_old_raw_mail
from desk.waiting import stop_task

log = logging.getLogger(__name__)
HOUR = 3600.0
# Events after which auto-assignment may have something to do.
ASSIGN_TRIGGERS = (TicketCreated, TicketAssigned, StatusChanged, AgentAvailability)
TRIGGER_DELAY = 0.2  # let a burst of changes share one run


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    interval: float
    work: Callable[[], Awaitable[object]]
    min_gap: timedelta  # a job may run again this soon after any process started it
    # A cheap read: whether a run kicked by an event has anything to do (None: always
    # run). A kick that finds nothing to do is not claimed nor recorded; the job's
    # periodic runs are, as ever.
    worth_kicking: Callable[[], Awaitable[bool]] | None = None


class Scheduler:
    def __init__(self, desk: Desk, composer: Composer, http: aiohttp.ClientSession) -> None:
        self.desk = desk
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.jobs = {spec.name: spec for spec in self._specs(composer, http)}
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._kicked: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # runs in progress, to stop with us
        self._stopping = asyncio.Event()  # set by drain: sends in flight finish, no more start

    def _specs(self, composer: Composer, http: aiohttp.ClientSession) -> list[JobSpec]:
        every = self.desk.settings.job_interval_seconds
        return [
            self._assign_spec(every),
            *self._housekeeping_specs(),
            *self._retry_specs(composer, http, every),
        ]

    def _assign_spec(self, every: float) -> JobSpec:
        return JobSpec(
            "auto-assign",
            "Assign waiting tickets to available agents",
            every,
            lambda: assign_waiting(self.desk),
            timedelta(0),
            # Kicked by every batch of new tickets: while nobody is available, a read and
            # no run (claiming and recording it takes two write transactions).
            lambda: anyone_available(self.desk),
        )

    def _housekeeping_specs(self) -> list[JobSpec]:
        """The hourly jobs that archive finished tickets and delete what has expired."""
        hours = self.desk.settings.archive_after_hours
        return [
            JobSpec(
                "archive",
                f"Archive tickets resolved or closed more than {hours} h ago",
                HOUR,
                lambda: archive_finished(self.desk),
                timedelta(seconds=HOUR / 2),
            ),
            JobSpec(
                "cleanup",
                "Delete expired codes and sessions, old events and deliveries",
                HOUR,
                lambda: clean_up(self.desk),
                timedelta(seconds=HOUR / 2),
            ),
            *self._retention_specs(),
        ]

    def _retention_specs(self) -> list[JobSpec]:
        """With POSTDESK_RAW_MAIL_RETENTION_DAYS set: the hourly job that drops raw mail."""
        days = self.desk.settings.raw_mail_retention_days
        if days is None:
            return []
        return [
            JobSpec(
                "raw-mail-retention",
                f"Drop the raw bytes of inbound mail processed more than {days} days ago",
                HOUR,
                lambda: drop_old_raw_mail(self.desk),
                timedelta(seconds=HOUR / 2),
            )
        ]

    def _retry_specs(
        self, composer: Composer, http: aiohttp.ClientSession, every: float
    ) -> list[JobSpec]:
        """The jobs that send outgoing mail and webhooks that are due again."""
        s = self.desk.settings
        relay = Relay.from_url(s.relay_url) if s.relay_url else None

        async def retry_outbox() -> object:
            if relay is None:
                return "no relay set"
            return await send_due(self.desk, relay, composer, self._stopping)

        return [
            JobSpec(
                "outbox-retry",
                "Send outgoing mail that is due again",
                every,
                retry_outbox,
                timedelta(seconds=every / 2),
            ),
            JobSpec(
                "webhook-retry",
                "Deliver webhooks that are due again",
                every,
                lambda: deliver_due(self.desk, http, self._stopping),
                timedelta(seconds=every / 2),
            ),
        ]

    async def start(self) -> None:
        for spec in self.jobs.values():
            trigger = IntervalTrigger(seconds=spec.interval)
            self._scheduler.add_job(
                self.run,
                trigger,
                args=[spec.name],
                id=spec.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self._scheduler.start()
        for spec in self.jobs.values():
            await runs.register(
                self.desk.db, spec.name, spec.description, spec.interval, self._next_run(spec.name)
            )
        self.kick("auto-assign")  # tickets may have waited while no scheduler ran

    async def drain(self, seconds: float) -> None:
        """No new runs; the runs in progress may finish for up to `seconds` (a sending job
        finishes the send in flight and releases the rest). `stop` cancels what is left."""
        self._stopping.set()
        if self._kicked:
            self._kicked.cancel()
        self._scheduler.pause()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=seconds)

    async def stop(self) -> None:
        """No new runs, and the runs in progress cancelled and awaited: a job stopped
        mid-way rolls its open transaction back and leaves no connection behind."""
        if self._kicked:
            self._kicked.cancel()
        self._scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            await stop_task(task)

    def _next_run(self, name: str) -> datetime | None:
        job = self._scheduler.get_job(name)
        return job.next_run_time if job else None

    async def run(self, name: str) -> bool:
        """Run `name` now if this process can claim it; True if it ran here. A request that
        comes while it is running here makes it run once more right after."""
        if self._stopping.is_set():
            return False
        if name in self._running:
            self._again.add(name)
            return False
        self._running.add(name)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            ran = await self._run_once(self.jobs[name])
            while name in self._again and not self._stopping.is_set():
                self._again.discard(name)
                ran = await self._run_once(self.jobs[name]) or ran
            return ran
        finally:
            self._running.discard(name)
            if task is not None:
                self._tasks.discard(task)

    async def _run_once(self, spec: JobSpec) -> bool:
        db = self.desk.db
        if not await runs.claim(db, spec.name, self.owner, spec.min_gap):
            return False
        result, error = "", None
        self.desk.metrics.job_runs.labels(spec.name).inc()
        try:
            result = str(await spec.work())
        except Exception as exc:
            log.exception("job %s failed", spec.name, extra={"job": spec.name})
            self.desk.metrics.job_failures.labels(spec.name).inc()
            error = f"{type(exc).__name__}: {exc}"
        else:
            log.debug("job %s: %s", spec.name, result, extra={"job": spec.name})
        await runs.release(
            db,
            spec.name,
            self.owner,
            result=result,
            error=error,
            next_run_at=self._next_run(spec.name),
        )
        return True

    def kick(self, name: str) -> None:
        """Run soon; several kicks within TRIGGER_DELAY make one run."""
        if self._kicked is not None and not self._kicked.cancelled():
            return
        loop = asyncio.get_running_loop()
        self._kicked = loop.call_later(TRIGGER_DELAY, self._kick_now, name)

    def _kick_now(self, name: str) -> None:
        self._kicked = None
        task = asyncio.create_task(self._run_kicked(name), name=f"job-{name}")
        task.add_done_callback(_log_failure)

    async def _run_kicked(self, name: str) -> bool:
        """`run`, unless the job says it has nothing to do (a run in progress here is asked
        to run once more, as ever: it may have read before the change that kicked it)."""
        worth = self.jobs[name].worth_kicking
        if worth is not None and name not in self._running:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)  # stopped with the other runs
            try:
                if self._stopping.is_set() or not await worth():
                    return False
            finally:
                if task is not None:
                    self._tasks.discard(task)
        return await self.run(name)

    async def on_event(self, _event: Event) -> None:
        """Subscribed (by the composition root) to ASSIGN_TRIGGERS only."""
        self.kick("auto-assign")


def _log_failure(task: asyncio.Task[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a triggered job failed", exc_info=task.exception())
