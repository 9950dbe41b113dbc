"""Kill -9 while mail pours in: every mail that got a 250 is processed exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from desk.db import Database
from desk.models import InboundMail, TicketMessage
from tests.support import make_mail

TOTAL, CONNECTIONS, KILL_AFTER = 500, 4, 150
pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    """Every process below `pid` (the parse workers are the fork server's children)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    direct = [int(p) for p in path.read_text().split()] if path.exists() else []
    return direct + [grandchild for child in direct for grandchild in _children(child)]


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


async def start_daemon(env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "run",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    port = int(env["POSTDESK_SMTP_PORT"])
    # Up to a minute: starting (migrations, the parse workers) is slow on a loaded machine.
    for _ in range(1200):
        if proc.returncode is not None:
            raise AssertionError(f"the daemon exited with {proc.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon did not start")


async def deliver_all(
    port: int, mails: dict[str, bytes], accepted: set[str], reached: asyncio.Event | None = None
) -> None:
    """Send each mail not yet accepted over CONNECTIONS connections; an error leaves it for
    the next round (that is what a real MTA does with a message not answered 250)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for mid in mails:
        if mid not in accepted:
            queue.put_nowait(mid)

    async def worker() -> None:
        try:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
                while not queue.empty():
                    mid = queue.get_nowait()
                    await client.sendmail("crash@example.com", ["support@localhost"], mails[mid])
                    accepted.add(mid)  # only after the 250
                    if reached is not None and len(accepted) >= KILL_AFTER:
                        reached.set()
        except (aiosmtplib.SMTPException, OSError):
            pass

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))


async def test_kill_9_loses_and_duplicates_nothing(env, settings):
    mails = {}
    for i in range(TOTAL):
        raw, mid = make_mail(
            sender="crash@example.com",
            subject=f"crash {i}",
            body=f"mail {i} " * 50,
            message_id=make_msgid(domain="crash.test"),
        )
        mails[mid] = raw
    accepted: set[str] = set()
    port = int(env["POSTDESK_SMTP_PORT"])

    proc = await start_daemon(env)
    reached = asyncio.Event()
    sending = asyncio.create_task(deliver_all(port, mails, accepted, reached))
    waiter = asyncio.create_task(reached.wait())
    await asyncio.wait([waiter, sending], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    workers = _children(proc.pid)
    assert workers, "the daemon runs its parse workers as child processes"
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    await sending
    accepted_before_kill = set(accepted)
    assert KILL_AFTER <= len(accepted_before_kill) < TOTAL

    # No orphaned parse workers survive the kill.
    for _ in range(100):
        if not _alive(workers):
            break
        await asyncio.sleep(0.05)
    assert not _alive(workers)

    proc = await start_daemon(env)
    try:
        for _ in range(5):
            await deliver_all(port, mails, accepted)
            if len(accepted) == TOTAL:
                break
        assert len(accepted) == TOTAL
        db = Database(settings.database_url)
        try:
            for _ in range(600):
                async with db.reader() as session:
                    waiting = await session.scalar(
                        select(func.count())
                        .select_from(InboundMail)
                        .where(InboundMail.state == "received")
                    )
                if waiting == 0:
                    break
                await asyncio.sleep(0.1)
            async with db.reader() as session:
                counts = dict(
                    (
                        await session.execute(
                            select(TicketMessage.message_id, func.count()).group_by(
                                TicketMessage.message_id
                            )
                        )
                    ).all()
                )
                states = dict(
                    (
                        await session.execute(
                            select(InboundMail.state, func.count()).group_by(InboundMail.state)
                        )
                    ).all()
                )
        finally:
            await db.dispose()
    finally:
        proc.terminate()
        await proc.wait()
    assert states.get("received", 0) == 0 and states.get("failed", 0) == 0
    assert all(counts.get(mid) == 1 for mid in accepted_before_kill)
    assert all(counts.get(mid) == 1 for mid in mails)
    assert sum(counts.values()) == TOTAL
