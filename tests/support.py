"""Helpers the tests share: building mail, a real SMTP sink, waiting for conditions."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    """A port free now, for a server a test starts a moment later. Taken below the kernel's
    range for outgoing connections: a port from that range (what binding port 0 gives) can be
    taken meanwhile by any client socket, a database connection of the test itself included,
    and the server then fails with "address already in use"."""
    low, high = _worker_ports()
    for _ in range(100):
        port = random.randrange(low, high)
        if port in _HANDED_OUT:  # one test asks for several; each must differ
            continue
        _HANDED_OUT.add(port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found below the outgoing range")


_HANDED_OUT: set[int] = set()


def _worker_ports() -> tuple[int, int]:
    """This pytest-xdist worker's own slice of the ports below the outgoing range, so two
    workers never pick the same one."""
    lowest, highest = 10_000, _outgoing_ports()[0]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (highest - lowest) // max(workers, 1)
    return lowest + worker * size, lowest + (worker + 1) * size


def _outgoing_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except OSError:
        return 32768, 60999  # Linux's default
    return int(low), int(high)


def make_mail(
    *,
    sender: str = "alice@example.com",
    name: str = "Alice Customer",
    to: str = "support@localhost",
    subject: str = "Printer on fire",
    body: str = "Hello, my printer is on fire.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    mid = message_id or email.utils.make_msgid(domain="example.com")
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(), mid


async def send(
    port: int, raw: bytes, *, sender: str = "alice@example.com", rcpt: str = "support@localhost"
) -> tuple[int, str]:
    """Deliver over a real SMTP conversation; return the DATA reply."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) as client:
        errors, reply = await client.sendmail(sender, [rcpt], raw)
        assert not errors
        return 250, reply


@dataclass
class Sink:
    """A real SMTP server standing in for the relay; it records what postdesk sends."""

    port: int
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    server: asyncio.Server | None = None
    refuse: str | None = None  # e.g. "550 5.1.1 No such user": answer RCPT with this
    refuse_data: str | None = None  # e.g. "554 5.7.1 Spam": answer DATA (the whole mail)
    smtputf8: bool = False  # offer SMTPUTF8 (RFC 6531), read when a client connects

    async def handle_RCPT(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope, parsed))
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test", enable_SMTPUTF8=self.smtputf8),
            "127.0.0.1",
            self.port,
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def to(self, address: str) -> list[Message]:
        return [m for env, m in self.messages if address in env.rcpt_tos]


async def wait_for_value(
    check: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """wait_for for a plain (non-async) check, such as what the SMTP sink has received."""

    async def _check() -> Any:
        return check()

    return await wait_for(_check, timeout=timeout, what=what)


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def send_due_now(running: Any) -> int:
    """Run the outbox sender once, as its loop does, and return how many rows it attempted:
    0 proves that nothing is (or will become, without a new change) due to go out."""
    from daemon.outbound.sender import send_due
    from daemon.outbound.transport import Relay

    async def must_not_compose(spec: dict[str, Any], message_id: str) -> bytes:
        raise AssertionError(f"composed {message_id}: a row was still due")

    settings = running.desk.settings
    relay = Relay.from_url(settings.relay_url)
    return await send_due(running.desk, relay, must_not_compose)


async def rows(running: Any, model: Any, *where: Any) -> list[Any]:
    """Read rows straight from the daemon's database (what an operator would look at)."""
    from sqlalchemy import select

    async with running.desk.db.reader() as session:
        order = model.id if hasattr(model, "id") else model.__mapper__.primary_key[0]
        return list(await session.scalars(select(model).where(*where).order_by(order)))


async def settled(running: Any, count: int, timeout: float = 20.0) -> list[Any]:
    """Wait until `count` stored mails are settled (processed, failed or ignored)."""
    from desk.models import InboundMail

    async def check() -> list[Any] | None:
        done = await rows(running, InboundMail, InboundMail.state != "received")
        return done if len(done) >= count else None

    return list(await wait_for(check, timeout=timeout, what=f"{count} settled mails"))


@dataclass
class Api:
    base: str
    http: aiohttp.ClientSession

    async def token(self, email: str, password: str) -> str:
        async with self.http.post(
            f"{self.base}/api/auth/token/", json={"email": email, "password": password}
        ) as r:
            body = await r.json()
            assert r.status == 200, body
            return str(body["access"])

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, f"{self.base}{path}", headers=headers, **kwargs) as r:
            if r.status == 204:
                return r.status, None
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.read()


class TcpProxy:
    """A TCP forwarder the test can cut and restore: a real outage of the server behind it
    (Redis, ...) as every client connected through it sees one."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@asynccontextmanager
async def http_server(
    port: int,
    method: str,
    path: str,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[None]:
    """A real HTTP server on 127.0.0.1:`port` with one route: what stands in for a third
    party (a webhook receiver, Gemini's REST API)."""
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()
