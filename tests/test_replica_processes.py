"""Replicas as they are deployed: two real `postdesk run` processes (the installed script)
on one PostgreSQL database and one Redis, `--role smtp` taking and processing mail and
`--role web` serving the API and the sockets. A mail sent over SMTP to the first is a
ticket read through the second, and a reply processed by the first is a live event on a
WebSocket of the second (the event crosses processes through Redis). SIGTERM then stops
both: the socket is closed with 1001, each process logs "stopped" and exits 0.
tests/test_replicas.py runs full replicas in-process, step by step, for the run-once
properties (every mail processed once, every send once, jobs once per interval)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from desk.db import Database
from desk.people import add_user
from tests.sockets import next_event
from tests.support import Api, free_port, make_mail, send, wait_for

# Starting means migrating and forking the parse workers: slow on a loaded machine.
START_SECONDS = 90
SHUTDOWN_SECONDS = 10
# Mail is parsed in a worker process and crosses two processes and Redis: on a machine
# shared with other test runs that can take far longer than in-process tests allow.
STEP_SECONDS = 60
AGENT, PASSWORD = "watcher@localhost", "pw for the watcher 1"


@dataclass
class Replica:
    """One `postdesk run --role ROLE` process, its log (stderr) and the port of its
    /readyz (the web port, or POSTDESK_METRICS_PORT for a role without the web server)."""

    role: str
    process: asyncio.subprocess.Process
    log: Path
    ready_port: int

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def postdesk_script() -> Path:
    """The `postdesk` console script of the environment running the tests, as an operator
    runs it (pip installs it beside the interpreter)."""
    script = Path(sys.executable).with_name("postdesk")
    assert script.exists(), f"{script} is missing: install the package (pip install -e .)"
    return script


@asynccontextmanager
async def replica(
    role: str, env: dict[str, str], folder: Path, ready_port: int
) -> AsyncIterator[Replica]:
    """Start the process; on the way out kill it if the test did not stop it."""
    log = folder / f"{role}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(postdesk_script()),
            "run",
            "--role",
            role,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=out,
        )
    try:
        yield Replica(role, process, log, ready_port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def until_ready(http: aiohttp.ClientSession, running: Replica) -> None:
    """GET /readyz answers 200: migrated, database and Redis answering."""
    url = f"http://127.0.0.1:{running.ready_port}/readyz"

    async def ready() -> bool:
        if running.process.returncode is not None:
            raise AssertionError(
                f"--role {running.role} exited with {running.process.returncode}:\n"
                + running.text()
            )
        try:
            async with http.get(url) as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False  # not listening yet

    try:
        await wait_for(ready, timeout=START_SECONDS, what=f"--role {running.role} to be ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; its log so far:\n{running.text()}") from None


async def add_agent(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.writer() as session:
            await add_user(session, email=AGENT, role="agent", password=PASSWORD)
    finally:
        await db.dispose()


async def ticket_about(api: Api, token: str, subject: str) -> int | None:
    status, page = await api.call("GET", "/api/tickets/", token)
    assert status == 200, page
    found = [t["id"] for t in page["results"] if t["subject"] == subject]
    return int(found[0]) if found else None


@pytest.mark.empty_database  # both replicas migrate it, one at a time
async def test_smtp_and_web_replicas_as_processes_share_mail_tickets_and_events(
    env: dict[str, str], tmp_path: Path
) -> None:
    if not env.get("POSTDESK_REDIS_URL"):
        pytest.skip(
            "replicas share one PostgreSQL database and Redis; SQLite is one process's "
            "database (run with POSTDESK_TEST_BACKENDS=postgres)"
        )
    env = {**env, "POSTDESK_SHUTDOWN_SECONDS": str(SHUTDOWN_SECONDS), "POSTDESK_LOG_LEVEL": "INFO"}
    smtp_port, web_port, metrics_port = int(env["POSTDESK_SMTP_PORT"]), free_port(), free_port()
    smtp_env = {**env, "POSTDESK_METRICS_PORT": str(metrics_port)}
    web_env = {**env, "POSTDESK_HTTP_PORT": str(web_port)}
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        # Started together: both migrate the empty database first, one at a time.
        intake = await stack.enter_async_context(replica("smtp", smtp_env, tmp_path, metrics_port))
        web = await stack.enter_async_context(replica("web", web_env, tmp_path, web_port))
        await asyncio.gather(until_ready(http, intake), until_ready(http, web))
        await add_agent(env["POSTDESK_DATABASE_URL"])
        api = Api(base=f"http://127.0.0.1:{web_port}", http=http)
        token = await api.token(AGENT, PASSWORD)

        first, first_id = make_mail(subject="Two processes, one desk", body="it is on fire")
        await send(smtp_port, first)
        ticket = await wait_for(
            lambda: ticket_about(api, token, "Two processes, one desk"),
            timeout=STEP_SECONDS,
            what="the ticket",
        )
        status, detail = await api.call("GET", f"/api/tickets/{ticket}/", token)
        assert status == 200
        [message] = detail["messages"]
        assert message["body_text"].startswith("it is on fire")

        socket = await http.ws_connect(
            f"ws://127.0.0.1:{web_port}/ws/tickets/{ticket}/?token={token}"
        )
        await socket.send_str('{"type":"ping"}')
        while (await next_event(socket)) != {"type": "pong"}:
            pass  # subscribed once it answers: the reply's event cannot race the subscription
        reply, _ = make_mail(
            subject="Re: Two processes, one desk", body="still on fire", in_reply_to=first_id
        )
        await send(smtp_port, reply)
        while (event := await next_event(socket, STEP_SECONDS))["type"] != "message_created":
            pass
        assert event["data"]["message"]["body_text"].startswith("still on fire")

        for running in (intake, web):
            running.process.send_signal(signal.SIGTERM)
        closing = await socket.receive(timeout=SHUTDOWN_SECONDS * 3)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1001), closing
        for running in (intake, web):
            code = await asyncio.wait_for(running.process.wait(), SHUTDOWN_SECONDS * 3)
            text = running.text()
            assert code == 0, text
            assert "stopping (SIGTERM" in text and text.rstrip().endswith("stopped"), text
