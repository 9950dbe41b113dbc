"""The composition root of `postdesk run`: builds every part in one AsyncExitStack, in the
order mail flows, and tears them down in reverse on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from daemon.imap import ImapPoller
from daemon.inbound_worker import run_inbound_worker
from daemon.outbound.sender import run_sender
from daemon.scheduler import Scheduler
from daemon.smtp import start_smtp
from daemon.webhook_sender import client_session, run_webhook_sender
from daemon.worker_pool import WorkerPool
from desk.config import Settings
from desk.context import Component, Desk, open_desk
from desk.mail.parse import Limits
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


def load_components() -> dict[str, Component]:
    """Components other packages register (the web server): the daemon never imports them."""
    found = importlib.metadata.entry_points(group="postdesk.components")
    return {ep.name: ep.load() for ep in found}


@asynccontextmanager
async def started(settings: Settings, role: str = "all") -> AsyncIterator[Running]:
    async with AsyncExitStack() as stack:
        desk = await stack.enter_async_context(open_desk(settings))
        running = Running(desk=desk)
        if role in ("all", "smtp", "jobs"):  # parses inbound mail, composes outbound mail
            limits = Limits(cpu_seconds=settings.parse_cpu_seconds)
            pool = WorkerPool(limits, str(settings.attachments_dir))
            stack.callback(pool.close)
        if role in ("all", "smtp"):
            await _start_mail_intake(stack, running, pool)
        if role in ("all", "jobs"):
            _spawn(stack, running, run_sender(desk, pool.compose), "outbox-sender")
            http = await stack.enter_async_context(client_session(settings.webhook_allow_private))
            _spawn(stack, running, run_webhook_sender(desk, http), "webhook-sender")
            running.scheduler = Scheduler(desk, pool.compose, http)
            await running.scheduler.start()
            stack.push_async_callback(running.scheduler.stop)
        if role in ("all", "web"):
            for name, component in load_components().items():
                log.info("starting component %s", name)
                await stack.enter_async_context(component(desk))
        yield running


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


def _spawn(stack: AsyncExitStack, running: Running, coro: object, name: str) -> None:
    task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
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
