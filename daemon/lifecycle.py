"""The composition root of `postdesk run`: builds every part in one AsyncExitStack, in the
order mail flows, subscribes every listener of the event bus in one function
(subscribe_listeners), and tears the parts down in reverse on SIGTERM/SIGINT."""

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
from daemon.outbound.sender import MAY_QUEUE_MAIL, run_sender
from daemon.scheduler import ASSIGN_TRIGGERS, Scheduler
from daemon.smtp import start_smtp
from daemon.webhook_sender import client_session, run_webhook_sender
from daemon.worker_pool import WorkerPool
from desk.config import Settings
from desk.context import Component, Desk, open_desk
from desk.errors import DeskError
from desk.events import EventBus, Subscriber, waker
from desk.events.types import STORED_KINDS
from desk.mail.parse import parse_limits
from desk.waiting import stop_task

log = logging.getLogger(__name__)
ROLES = ("all", "smtp", "web", "jobs")


@dataclass
class Running:
    desk: Desk
    smtp_port: int | None = None
    scheduler: Scheduler | None = None
    imap_pollers: list[ImapPoller] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class Listeners:
    """What listens to the event bus in this process (which depends on its role)."""

    outbox: asyncio.Event | None = None  # wakes the outbox sender
    webhooks: asyncio.Event | None = None  # wakes the webhook sender
    scheduler: Scheduler | None = None
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
    async with AsyncExitStack() as stack:
        desk = await stack.enter_async_context(open_desk(settings))
        running = Running(desk=desk)
        listeners = Listeners()
        if role in ("all", "smtp", "jobs"):  # parses inbound mail, composes outbound mail
            limits = parse_limits(settings)
            pool = WorkerPool(limits, str(settings.attachments_dir))
            stack.callback(pool.close)
        if role in ("all", "smtp"):
            await _start_mail_intake(stack, running, pool)
        if role in ("all", "jobs"):
            await _start_jobs(stack, running, listeners, pool)
        for name, component in components.items():
            log.info("starting component %s", name)
            listener = await stack.enter_async_context(component(desk))
            if listener is not None:
                listeners.components.append(listener)
        subscribe_listeners(desk.bus, listeners)
        yield running


async def _start_jobs(
    stack: AsyncExitStack, running: Running, listeners: Listeners, pool: WorkerPool
) -> None:
    """The outbox and webhook senders and the scheduled jobs."""
    desk = running.desk
    listeners.outbox, listeners.webhooks = asyncio.Event(), asyncio.Event()
    _spawn(stack, running, run_sender(desk, pool.compose, listeners.outbox), "outbox-sender")
    http = await stack.enter_async_context(client_session(desk.settings.webhook_allow_private))
    _spawn(stack, running, run_webhook_sender(desk, http, listeners.webhooks), "webhook-sender")
    running.scheduler = listeners.scheduler = Scheduler(desk, pool.compose, http)
    await running.scheduler.start()
    stack.push_async_callback(running.scheduler.stop)


async def _start_mail_intake(stack: AsyncExitStack, running: Running, pool: WorkerPool) -> None:
    s = running.desk.settings
    _spawn(stack, running, run_inbound_worker(running.desk, pool.prepare), "inbound")
    listener = await start_smtp(
        running.desk.receiver,
        host=s.smtp_host,
        port=s.smtp_port,
        domains=s.accepted_domains,
        max_bytes=s.smtp_size_limit,
        hostname=s.support_domain,
    )
    stack.push_async_callback(listener.close)
    running.smtp_port = listener.port
    log.info("SMTP listening on %s:%s", s.smtp_host, running.smtp_port)
    for url in s.imap_urls:
        poller = ImapPoller(running.desk, url)
        running.imap_pollers.append(poller)
        _spawn(stack, running, poller.run(), f"imap {poller.box.account}")
        log.info("reading IMAP mailbox %s", poller.box.account)


def _spawn(
    stack: AsyncExitStack, running: Running, coro: Coroutine[Any, Any, None], name: str
) -> None:
    task = asyncio.create_task(coro, name=name)
    running.tasks.append(task)
    stack.push_async_callback(stop_task, task)


async def serve(settings: Settings, role: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with started(settings, role):
        log.info("postdesk running (role %s); data in %s", role, settings.data_dir)
        await stop.wait()
        log.info("stopping")
