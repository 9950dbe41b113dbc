"""Stopping: what a client sees while the daemon drains (in-process, step by step), the
outbox releasing what it claimed but did not send, and SIGTERM in the middle of a blast of
mail (a separate daemon process): every mail that got a 250 is processed exactly once after
the restart, WebSockets are closed with 1001, and the process says "stopped" and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from email.utils import make_msgid
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest
from sqlalchemy import func, select

from daemon.lifecycle import started
from daemon.outbound.sender import send_due
from daemon.outbound.transport import Relay
from desk.config import load_settings
from desk.db import Database
from desk.mail.compose import compose_spec
from desk.models import InboundMail, OutboxMail, TicketMessage
from tests.support import make_mail, rows, send, settled, wait_for, wait_for_value
from tests.test_cli import postdesk
from tests.test_smtp_data import HEAD, Wire, stored


async def expect_goodbye(wire: Wire) -> None:
    """A 421 for a server shutting down, then the connection closed."""
    assert (await wire.reply()).startswith(b"421 4.3.2")
    assert await wire.reader.read() == b""


async def test_draining_lets_a_message_in_data_finish_and_turns_the_rest_away(daemon):
    sending = await Wire.open(daemon.smtp_port)
    await sending.start_data()
    sending.writer.write(HEAD + b"first half\r\n")
    idle = await Wire.open(daemon.smtp_port)
    assert (await idle.command(b"EHLO idle.example")).startswith(b"250")

    draining = asyncio.create_task(daemon.drain(30))
    await expect_goodbye(idle)  # between commands: told at once
    late = Wire(*await asyncio.open_connection("127.0.0.1", daemon.smtp_port))
    await expect_goodbye(late)  # a new session: refused while the listener stops
    assert not draining.done()  # still waiting for the message in DATA

    sending.writer.write(b"second half\r\n.\r\n")
    content = await stored(daemon, await sending.reply())  # 250: committed
    assert content == HEAD + b"first half\r\nsecond half\r\n"
    await expect_goodbye(sending)
    await draining
    for wire in (sending, idle, late):
        await wire.close()


async def test_a_message_still_arriving_at_the_bound_is_cut_off_unanswered(daemon):
    """No 250 was sent for it, so the client keeps it and sends it again later."""
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    wire.writer.write(HEAD + b"and then nothing\r\n")
    await daemon.drain(0.2)
    await expect_goodbye(wire)
    await wire.close()
    assert await rows(daemon, InboundMail) == []


async def test_a_stopping_sender_finishes_the_send_in_flight_and_releases_the_rest(env, sink):
    """Rows claimed for sending but not yet sent go back to the queue: left `sending`,
    they would be failed as possibly sent. Sent later, each goes out exactly once."""
    settings = load_settings(env, read_dotenv=False)
    async with started(settings, role="smtp") as running:  # intake only: no sender running
        for i in range(3):
            raw, _ = make_mail(sender=f"stop{i}@example.com", subject=f"stop {i}")
            await send(running.smtp_port, raw, sender=f"stop{i}@example.com")
        await settled(running, 3)
        relay, stopping = Relay.from_url(settings.relay_url), asyncio.Event()

        async def compose_then_stop(spec, message_id):
            stopping.set()  # the stop comes while the first mail is being sent
            return compose_spec(spec, message_id)

        assert await send_due(running.desk, relay, compose_then_stop, stopping) == 1
        states = sorted(r.state for r in await rows(running, OutboxMail))
        assert states == ["pending", "pending", "sent"]
        assert all(r.attempts == 0 for r in await rows(running, OutboxMail) if r.state != "sent")

        async def compose(spec, message_id):
            return compose_spec(spec, message_id)

        assert await send_due(running.desk, relay, compose) == 2
    assert sorted(e.rcpt_tos[0] for e, _ in sink.messages) == [
        f"stop{i}@example.com" for i in range(3)
    ]


# -- SIGTERM in the middle of a blast, a daemon of its own ------------------------------------

TOTAL, CONNECTIONS, STOP_AFTER = 240, 4, 60


def starts(log: Path) -> int:
    return log.read_text().count("postdesk running") if log.exists() else 0


async def start_daemon(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """Start `postdesk run` logging to `log` (appended), once it says it is running."""
    runs = starts(log)
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon", "run", env={**os.environ, **env}, stderr=out
        )

    def listening() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"the daemon exited with {proc.returncode}: {log.read_text()}")
        return starts(log) > runs

    await wait_for_value(listening, timeout=90, what="the daemon to start")
    return proc


async def deliver(
    port: int,
    mails: dict[str, tuple[str, bytes]],
    accepted: set[str],
    enough: asyncio.Event | None = None,
) -> None:
    """Send each mail not yet accepted over CONNECTIONS connections; a refusal or a cut
    leaves it for the next round, as a real MTA keeps what was not answered 250."""
    queue = [mid for mid in mails if mid not in accepted]

    async def client() -> None:
        try:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as smtp:
                while queue:
                    mid = queue.pop()
                    sender, raw = mails[mid]
                    await smtp.sendmail(sender, ["support@localhost"], raw)
                    accepted.add(mid)  # only after the 250
                    if enough is not None and len(accepted) >= STOP_AFTER:
                        enough.set()
        except (aiosmtplib.SMTPException, OSError):
            pass

    await asyncio.gather(*(client() for _ in range(CONNECTIONS)))


@pytest.mark.slow
async def test_sigterm_mid_blast_loses_and_duplicates_nothing(env, settings, sink, tmp_path):
    mails = {}
    for i in range(TOTAL):
        mid, sender = make_msgid(domain="stop.test"), f"c{i}@example.com"
        raw, _ = make_mail(sender=sender, subject=f"stop {i}", message_id=mid, body="x " * 200)
        mails[mid] = (sender, raw)
    env = {**env, "POSTDESK_SHUTDOWN_SECONDS": "20"}
    code, _, err = await postdesk(
        env, "adduser", "--email", "watch@localhost", "--role", "agent", "--password", "pw 12345678"
    )
    assert code == 0, err
    log = tmp_path / "daemon.log"
    port, accepted = int(env["POSTDESK_SMTP_PORT"]), set()

    proc = await start_daemon(env, log)
    base = f"http://127.0.0.1:{env['POSTDESK_HTTP_PORT']}"
    async with aiohttp.ClientSession() as http:
        body = {"email": "watch@localhost", "password": "pw 12345678"}
        async with http.post(f"{base}/api/auth/token/", json=body) as r:
            token = (await r.json())["access"]
        socket = await http.ws_connect(f"{base}/ws/notifications/?token={token}")
        enough = asyncio.Event()
        blast = asyncio.create_task(deliver(port, mails, accepted, enough))
        await asyncio.wait(
            [asyncio.create_task(enough.wait()), blast], return_when=asyncio.FIRST_COMPLETED
        )
        proc.send_signal(signal.SIGTERM)
        while (frame := await socket.receive(timeout=30)).type == aiohttp.WSMsgType.TEXT:
            continue  # live events until the stop (tickets assigned to the agent)
        assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == 1001
        assert await asyncio.wait_for(proc.wait(), 40) == 0
        await blast
    stopped = log.read_text()
    assert "stopping (SIGTERM" in stopped and stopped.rstrip().endswith("stopped")
    assert STOP_AFTER <= len(accepted) < TOTAL, len(accepted)
    before_restart = set(accepted)
    await nothing_left_sending(settings.database_url)

    proc = await start_daemon(env, log)
    try:
        for _ in range(5):
            await deliver(port, mails, accepted)
            if len(accepted) == TOTAL:
                break
        counts, states = await settled_counts(settings.database_url)
        await wait_for_value(lambda: len(to_customers(sink)) >= TOTAL, what="acknowledgements")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 40) == 0
    assert states.get("received", 0) == 0 and states.get("failed", 0) == 0
    assert all(counts.get(mid) == 1 for mid in before_restart)
    assert sorted(counts) == sorted(mails) and set(counts.values()) == {1}
    assert sorted(to_customers(sink)) == sorted(sender for sender, _ in mails.values())


def to_customers(sink) -> list[str]:
    """Whom the relay was asked to mail, customers only (agents get notices too)."""
    return [r for e, _ in sink.messages for r in e.rcpt_tos if r.endswith("@example.com")]


async def nothing_left_sending(url: str) -> None:
    """The stop released what the outbox sender had claimed: no row stays `sending`."""
    db = Database(url)
    try:
        async with db.reader() as session:
            left = await session.scalar(
                select(func.count()).select_from(OutboxMail).where(OutboxMail.state == "sending")
            )
    finally:
        await db.dispose()
    assert left == 0


async def settled_counts(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Once nothing is waiting: ticket messages per Message-ID, inbound mail per state."""
    db = Database(url)
    try:

        async def nothing_waiting() -> bool:
            async with db.reader() as session:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(InboundMail)
                    .where(InboundMail.state == "received")
                )
            return waiting == 0

        await wait_for(nothing_waiting, timeout=60, what="every mail processed")
        async with db.reader() as session:
            counts = (
                await session.execute(
                    select(TicketMessage.message_id, func.count()).group_by(
                        TicketMessage.message_id
                    )
                )
            ).all()
            states = (
                await session.execute(
                    select(InboundMail.state, func.count()).group_by(InboundMail.state)
                )
            ).all()
    finally:
        await db.dispose()
    return {m: c for m, c in counts}, {s: c for s, c in states}


@pytest.mark.slow
async def test_a_second_signal_exits_at_once(env, tmp_path):
    """A stop waiting for a message still in DATA (it may wait 45 s here) is cut short by a
    second signal: the process exits with 128 + SIGINT, and the message never got a 250."""
    env = {**env, "POSTDESK_SHUTDOWN_SECONDS": "60"}
    log = tmp_path / "daemon.log"
    proc = await start_daemon(env, log)
    wire = await Wire.open(int(env["POSTDESK_SMTP_PORT"]))
    await wire.start_data()
    wire.writer.write(HEAD + b"half\r\n")
    proc.send_signal(signal.SIGTERM)
    await wait_for_value(lambda: "stopping (SIGTERM" in log.read_text(), what="the stop")
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 30) == 128 + signal.SIGINT
    assert "second SIGINT: exiting at once" in log.read_text()
    assert not (await wire.reader.read()).startswith(b"250")
    await wire.close()
