"""The composition root of `postdesk run`: builds every part in one AsyncExitStack, in the
order mail flows, subscribes every listener of the event bus in one function
(subscribe_listeners), and on SIGTERM/SIGINT stops in two steps: `Running.drain` lets the
work in hand finish (within POSTDESK_SHUTDOWN_SECONDS), then the stack tears the parts down
in reverse (the web component closes its WebSockets with 1001 there)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from daemon.imap import ImapPoller
from daemon.inbound_worker import run_inbound_worker
from daemon.metrics_server import serve_metrics
from daemon.outbound.sender import MAY_QUEUE_MAIL, run_sender
from daemon.scheduler import ASSIGN_TRIGGERS, Scheduler
from daemon.signals import Signals
from daemon.smtp import SmtpLimits, start_smtp
from daemon.smtp_listener import SmtpListener
from daemon.webhook_sender import client_session, run_webhook_sender
from daemon.worker_pool import WorkerPool
from desk.config import Settings
from desk.context import Component, Desk, open_desk
from desk.errors import DeskError
from desk.events import EventBus, Subscriber, waker
from desk.events.types import STORED_KINDS
from desk.intake import Receiver
from desk.mail.parse import parse_limits
from desk.notifications import KINDS as NOTIFYING
from desk.notifications import Notifier
from desk.startup import check_can_listen, listen_problem
from desk.waiting import stop_task

log = logging.getLogger(__name__)
ROLES = ("all", "smtp", "web", "jobs")
# Of POSTDESK_SHUTDOWN_SECONDS, the share for finishing work in hand; the rest is for closing
# (the web server, its sockets, the parse workers, the database) before the hard exit.
DRAIN_SHARE = 0.75


@dataclass
class Running:
    desk: Desk
    smtp_port: int | None = None
    smtp: SmtpListener | None = None
    scheduler: Scheduler | None = None
    notifier: Notifier | None = None  # writes the bell's lines (web processes)
    pool: WorkerPool | None = None  # parsing and composing processes
    imap_pollers: list[ImapPoller] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Set by drain: the background loops finish the work in hand and end.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wakers: list[asyncio.Event] = field(default_factory=list)  # set with `stopping`
    intake: list[asyncio.Task[None]] = field(default_factory=list)  # IMAP: just stopped

    async def drain(self, seconds: float) -> None:
        """Let the work in hand finish, for up to `seconds` in all, in the order mail flows:
        no more mail taken (SMTP answers 421; messages in DATA may finish), the batch
        being processed written, the sends in flight done. What is left when time is up
        is cancelled by the teardown; nothing is lost (mail is committed before its 250,
        processing is idempotent, an outbox row is claimed before it is sent)."""
        deadline = asyncio.get_running_loop().time() + seconds
        for task in self.intake:  # IMAP marks mail read only after committing it
            task.cancel()
        if self.smtp is not None:
            await self.smtp.drain(_left(deadline))
        self.stopping.set()
        for wake in self.wakers:
            wake.set()
        if self.scheduler is not None:
            await self.scheduler.drain(_left(deadline))
        busy = [t for t in self.tasks if not t.done()]
        if busy:
            await asyncio.wait(busy, timeout=_left(deadline))
        unfinished = [t.get_name() for t in self.tasks if not t.done()]
        if unfinished:
            log.warning("still busy after %.0fs, cancelled: %s", seconds, ", ".join(unfinished))


def _left(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


@dataclass
class Listeners:
    """What listens to the event bus in this process (which depends on its role)."""

    outbox: asyncio.Event | None = None  # wakes the outbox sender
    webhooks: asyncio.Event | None = None  # wakes the webhook sender
    scheduler: Scheduler | None = None
    notifier: Notifier | None = None  # writes the bell's lines (web processes)
    components: list[Subscriber] = field(default_factory=list)  # the web's live hub


def subscribe_listeners(bus: EventBus, listeners: Listeners) -> None:
    """Every subscriber of the event bus, in one place: nothing subscribes itself. Each
    hears only the kinds that concern it; the senders are woken early by them and poll
    besides, so an event missed while starting costs at most a poll interval."""
    if listeners.outbox is not None:
        bus.subscribe(waker(listeners.outbox), MAY_QUEUE_MAIL)
    if listeners.webhooks is not None:
        bus.subscribe(waker(listeners.webhooks), STORED_KINDS)  # may have queued deliveries
    if listeners.scheduler is not None:
        bus.subscribe(listeners.scheduler.on_event, ASSIGN_TRIGGERS)
    if listeners.notifier is not None:
        bus.subscribe_many(listeners.notifier.on_events, NOTIFYING)
    for listener in listeners.components:
        bus.subscribe(listener)  # the live hub: every kind, to its sockets


class ComponentMissing(DeskError):
    code = "component_missing"


def load_components() -> dict[str, Component]:
    """Components other packages register (the web server): the daemon never imports them.
    Without the web server a daemon asked to serve the web would run deaf, so that stops it
    before anything starts."""
    found = importlib.metadata.entry_points(group="postdesk.components")
    if "web" not in found.names:
        raise ComponentMissing(
            "the web server is not installed (no 'web' entry point in the group "
            "postdesk.components): install postdesk as a package, e.g. pip install -e ."
        )
    return {ep.name: ep.load() for ep in found}


@asynccontextmanager
async def started(settings: Settings, role: str = "all") -> AsyncIterator[Running]:
    components = load_components() if role in ("all", "web") else {}
    _check_ports(settings, role)
    async with AsyncExitStack() as stack:
        desk = await stack.enter_async_context(open_desk(settings))
        running = Running(desk=desk)
        listeners = Listeners()
        if role in ("all", "smtp", "jobs"):  # parses inbound mail, composes outbound mail
            limits = parse_limits(settings)
            pool = running.pool = WorkerPool(limits, str(settings.attachments_dir))
            stack.callback(pool.close)
            await pool.warm()  # before mail is taken: starting a worker is not parsing
        if role in ("all", "smtp"):
            await _start_mail_intake(stack, running, pool)
        if role in ("all", "jobs"):
            await _start_jobs(stack, running, listeners, pool)
        if role in ("smtp", "jobs") and settings.metrics_port:  # no web server to serve it
            await stack.enter_async_context(serve_metrics(desk, settings.metrics_port))
        if role in ("all", "web"):
            listeners.notifier = Notifier(desk)
        for name, component in components.items():
            log.info("starting component %s", name)
            listener = await stack.enter_async_context(component(desk))
            if listener is not None:
                listeners.components.append(listener)
        subscribe_listeners(desk.bus, listeners)
        yield running


def _check_ports(s: Settings, role: str) -> None:
    """The ports this role listens on are free: checked before anything starts."""
    if role in ("all", "smtp"):
        check_can_listen("SMTP", "POSTDESK_SMTP_PORT", s.smtp_host, s.smtp_port)
    if role in ("all", "web"):
        check_can_listen("HTTP", "POSTDESK_HTTP_PORT", s.http_host, s.http_port)


async def _start_jobs(
    stack: AsyncExitStack, running: Running, listeners: Listeners, pool: WorkerPool
) -> None:
    """The outbox and webhook senders and the scheduled jobs."""
    desk, stopping = running.desk, running.stopping
    listeners.outbox, listeners.webhooks = asyncio.Event(), asyncio.Event()
    running.wakers += [listeners.outbox, listeners.webhooks]
    sender = run_sender(desk, pool.compose, listeners.outbox, stopping)
    _spawn(stack, running, sender, "outbox-sender")
    http = await stack.enter_async_context(client_session(desk.settings.webhook_allow_private))
    webhooks = run_webhook_sender(desk, http, listeners.webhooks, stopping)
    _spawn(stack, running, webhooks, "webhook-sender")
    running.scheduler = listeners.scheduler = Scheduler(desk, pool.compose, http)
    await running.scheduler.start()
    stack.push_async_callback(running.scheduler.stop)


async def _start_mail_intake(stack: AsyncExitStack, running: Running, pool: WorkerPool) -> None:
    desk = running.desk
    running.wakers.append(desk.receiver.stored)
    _spawn(stack, running, run_inbound_worker(desk, pool.prepare, running.stopping), "inbound")
    running.smtp = smtp = await _listen_smtp(desk.receiver, desk.settings)
    stack.push_async_callback(smtp.close)
    smtp.on_refused = desk.metrics.smtp_sessions_refused.inc
    desk.metrics.smtp_sessions_open.set_function(lambda: smtp.open_sessions)
    running.smtp_port = running.smtp.port
    log.info("SMTP listening on %s:%s", desk.settings.smtp_host, running.smtp_port)
    for url in desk.settings.imap_urls:
        poller = ImapPoller(desk, url)
        running.imap_pollers.append(poller)
        _spawn(stack, running, poller.run(), f"imap {poller.box.account}")
        running.intake.append(running.tasks[-1])
        log.info("reading IMAP mailbox %s", poller.box.account)


async def _listen_smtp(receiver: Receiver, s: Settings) -> SmtpListener:
    limits = SmtpLimits(
        max_bytes=s.smtp_size_limit,
        max_sessions=s.smtp_max_sessions,
        sessions_per_client=s.smtp_sessions_per_client,
        idle_seconds=s.smtp_idle_seconds,
        session_seconds=s.smtp_session_seconds,
        data_seconds=s.smtp_data_seconds,
        memory_bytes=s.smtp_memory_bytes,
        spool_dir=s.spool_dir,
    )
    try:
        return await start_smtp(
            receiver,
            host=s.smtp_host,
            port=s.smtp_port,
            domains=s.accepted_domains,
            hostname=s.support_domain,
            limits=limits,
        )
    except OSError as exc:
        raise listen_problem("SMTP", "POSTDESK_SMTP_PORT", s.smtp_host, s.smtp_port, exc) from None


def _spawn(
    stack: AsyncExitStack, running: Running, coro: Coroutine[Any, Any, None], name: str
) -> None:
    task = asyncio.create_task(coro, name=name)
    running.tasks.append(task)
    stack.push_async_callback(stop_task, task)


async def serve(settings: Settings, role: str) -> None:
    """Run until SIGTERM or SIGINT, then stop within POSTDESK_SHUTDOWN_SECONDS (drain, then
    tear down); a second signal, or a stop that overruns, exits at once."""
    seconds = settings.shutdown_seconds
    signals = Signals(asyncio.get_running_loop())
    async with started(settings, role) as running:
        log.info("postdesk running (role %s); data in %s", role, settings.data_dir)
        signum = await signals.first()
        log.info("stopping (%s; up to %.0fs)", signal.Signals(signum).name, seconds)
        signals.exit_after(seconds)
        await running.drain(seconds * DRAIN_SHARE)
    log.info("stopped")
