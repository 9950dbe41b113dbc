"""Ingestion benchmark: N generated mails into a fresh daemon by one of three paths.

- smtp: over SMTP from C connections;
- imap: appended to a throw-away Dovecot first, then read by the daemon's IMAP poller;
- http: POSTed to /api/inbound/mime/ (the provider-webhook path) by C concurrent clients.

Reports mails/second accepted (250 / 202, or appended for IMAP) and processed (ticket rows
written), the daemon's CPU time per mail (main process and parse workers), and its memory
(main process RSS sampled while it runs, plus its parse workers at the end).

    python -m bench.ingest --path smtp|imap|http --mails 2000 --connections 4 \
        [--database postgresql+asyncpg://...]

A PostgreSQL database named by --database is dropped and created anew: never point it at
real data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiohttp
import aiosmtplib
import uvloop
from sqlalchemy import func, select

from bench.desk_data import fresh_postgres
from desk.auth.api_keys import create_key
from desk.db import Database
from desk.models import InboundMail
from desk.people import add_user
from tests.mail_samples import INVITE, tnef

WORDS = (
    "printer invoice password reset login error urgent please help order refund account "
    "delivery broken screen update thanks question billing"
).split()
UNICODE = [
    "Привет, не работает принтер",
    "請幫忙 我的帳戶被鎖定了",
    "Grüße aus Köln — Rechnung",
    "مرحبا، لدي مشكلة",
    "Ça ne marche pas, déjà essayé",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(n: int, seed: int = 7) -> list[bytes]:
    """Mixed corpus (see `_body`): plain, HTML, non-ASCII, attachments, HTML-only, Japanese,
    winmail.dat, invitations, forwards; 30% reply to an earlier mail."""
    rng = random.Random(seed)
    sent: list[tuple[str, str, str]] = []  # (sender, message-id, subject)
    mails = []
    for i in range(n):
        msg = EmailMessage()
        if sent and rng.random() < 0.30:
            sender, parent, subject = rng.choice(sent)
            msg["In-Reply-To"] = parent
            msg["References"] = parent
            subject = f"Re: {subject}"
        else:
            sender = f"customer{rng.randrange(n // 3 + 1)}@example{rng.randrange(50)}.com"
            subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 7)))
        kind = rng.random()
        if kind < 0.05:
            subject = rng.choice(UNICODE)
        mid = make_msgid(domain="bench.example")
        msg["From"] = f"Customer {i} <{sender}>"
        msg["To"] = "support@localhost"
        msg["Subject"] = subject
        msg["Message-ID"] = mid
        text = " ".join(rng.choices(WORDS, k=rng.randint(30, 400)))
        if kind < 0.05:
            text = (rng.choice(UNICODE) + "\n") * rng.randint(5, 50)
        _body(msg, kind, text, subject, i, rng)
        mails.append(msg.as_bytes())
        sent.append((sender, mid, subject))
    return mails


JAPANESE = "お世話になっております。請求書の件でご連絡いたしました。金額をご確認ください。\n"


def _body(msg: EmailMessage, kind: float, text: str, subject: str, i: int, rng: random.Random):
    """What a mail carries, by kind: 5% non-ASCII text, 15% text + HTML, 10% a 50-200 KB
    attachment, then the richer mail of real desks: 4% HTML only, 3% Japanese in
    ISO-2022-JP, 2% winmail.dat, 2% an invitation, 3% a forwarded message; the rest text."""
    if 0.30 <= kind < 0.34:
        msg.set_content(
            f"<html><head><title>t</title><style>p{{margin:0}}</style></head><body>"
            f"<p>{text}</p><p>Thanks,<br>{subject}</p><ul><li>one</li><li>two</li></ul>"
            "</body></html>",
            subtype="html",
        )
    elif 0.34 <= kind < 0.37:
        msg.set_content(JAPANESE * rng.randint(1, 20), charset="iso-2022-jp", cte="7bit")
    elif 0.37 <= kind < 0.39:
        msg.set_content(text)
        files = [(f"report-{i}.pdf", rng.randbytes(rng.randint(5_000, 30_000)))]
        msg.add_attachment(
            tnef(files), maintype="application", subtype="ms-tnef", filename="winmail.dat"
        )
    elif 0.39 <= kind < 0.41:
        msg.set_content(text)
        msg.add_alternative(INVITE, subtype="calendar", params={"method": "REQUEST"})
    elif 0.41 <= kind < 0.44:
        msg.set_content("Please see the forwarded mail below.")
        inner = EmailMessage()
        inner["From"] = "Original Sender <original@example.org>"
        inner["Subject"] = subject
        inner.set_content(text)
        msg.add_attachment(inner)
    else:
        msg.set_content(text)
        if 0.05 <= kind < 0.20:
            msg.add_alternative(
                f"<html><body><p>{text}</p><p><b>{subject}</b></p></body></html>", subtype="html"
            )
        elif 0.20 <= kind < 0.30:
            blob = rng.randbytes(rng.randint(50_000, 200_000))
            msg.add_attachment(
                blob, maintype="application", subtype="octet-stream", filename=f"report-{i}.bin"
            )


async def send_all(port: int, mails: list[bytes], connections: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)
    started = time.perf_counter()

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120) as client:
            while not queue.empty():
                await client.sendmail(
                    "bench@example.com", ["support@localhost"], queue.get_nowait()
                )

    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


async def post_all(base: str, key: str, mails: list[bytes], connections: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)
    started = time.perf_counter()
    headers = {"X-Api-Key": key, "Content-Type": "message/rfc822"}

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            async with http.post(
                f"{base}/api/inbound/mime/", data=queue.get_nowait(), headers=headers
            ) as r:
                if r.status != 202:
                    raise RuntimeError(f"HTTP {r.status}: {await r.text()}")

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    return time.perf_counter() - started


async def append_all(dovecot: object, mails: list[bytes]) -> float:
    started = time.perf_counter()
    client = await dovecot.client()  # type: ignore[attr-defined]
    try:
        for raw in mails:
            await client.append(raw, mailbox="INBOX")
    finally:
        await client.logout()
    return time.perf_counter() - started


async def _api_key(url: str) -> str:
    db = Database(url)
    try:
        await db.migrate()
        async with db.writer() as session:
            admin = await add_user(session, email="bench@localhost", role="admin", password=None)
        return str((await create_key(db, admin, "bench", ["inbound:write"]))["key"])
    finally:
        await db.dispose()


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _daemon_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the daemon's main process and of its parse workers, so far."""
    return cpu_seconds(pid), sum(cpu_seconds(c) for c in children(pid))


def children(pid: int) -> list[int]:
    """Every process below `pid`: the parse workers are the fork server's children."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    direct = [int(p) for p in path.read_text().split()] if path.exists() else []
    return direct + [grandchild for child in direct for grandchild in children(child)]


async def _wait_for_port(port: int, proc: asyncio.subprocess.Process) -> None:
    """Until the daemon answers on `port` (a loaded machine may take a minute to start it);
    a daemon that exits or never answers ends the run with the reason."""
    for _ in range(1200):
        if proc.returncode is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode} before serving")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the daemon did not answer on port {port} within two minutes")


async def _stop_profile(proc: asyncio.subprocess.Process, out: Path) -> None:
    """Ask the profiled daemon to write its profile, and wait until it has."""
    await asyncio.to_thread(out.unlink, missing_ok=True)
    proc.send_signal(signal.SIGUSR2)
    for _ in range(600):
        if await asyncio.to_thread(out.exists):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the daemon wrote no profile to {out}")


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    smtp_port, http_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": str(data),
        "POSTDESK_SMTP_PORT": str(smtp_port),
        "POSTDESK_HTTP_PORT": str(http_port),
        "POSTDESK_SECRET_KEY": "bench-secret-key-0123456789-0123456789",
    }
    if args.database:
        await fresh_postgres(args.database)  # a PostgreSQL database is dropped and made anew
        env["POSTDESK_DATABASE_URL"] = args.database
    url = args.database or f"sqlite+aiosqlite:///{data / 'postdesk.db'}"
    mails = generate(args.mails)
    size = sum(len(m) for m in mails)
    print(
        f"path: {args.path}; corpus: {len(mails)} mails, {size / 1e6:.1f} MB; "
        f"database: {url.split(':')[0]}; connections: {args.connections}"
    )
    dovecot = None
    appended_s = 0.0
    if args.path == "imap":
        from tests.dovecot import Dovecot, dovecot_binary

        dovecot = Dovecot.start(str(dovecot_binary()))
        mails = [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in mails]
        appended_s = await append_all(dovecot, mails)
        env["POSTDESK_IMAP_URLS"] = dovecot.url()
    key = await _api_key(url) if args.path == "http" else ""
    module = "daemon"
    if args.profile:  # the main thread under cProfile, from serving to the last mail settled
        module, env["POSTDESK_BENCH_PROFILE"] = "bench.profile_daemon", args.profile
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "run", env=env, stderr=asyncio.subprocess.DEVNULL
    )
    db = Database(url)
    try:
        await _wait_for_port(http_port, proc)
        cpu_before = _daemon_cpu(proc.pid)
        if args.profile:
            proc.send_signal(signal.SIGUSR1)
        started = time.perf_counter()
        if args.path == "smtp":
            sending = asyncio.create_task(send_all(smtp_port, mails, args.connections))
        elif args.path == "http":
            base = f"http://127.0.0.1:{http_port}"
            sending = asyncio.create_task(post_all(base, key, mails, args.connections))
        else:
            sending = asyncio.create_task(asyncio.sleep(0, appended_s))
        samples: list[tuple[int, int]] = []
        done = 0
        while done < len(mails):
            await asyncio.sleep(0.25)
            if sending.done() and sending.exception() is not None:
                raise RuntimeError("sending failed") from sending.exception()
            async with db.reader() as s:
                done = (
                    await s.scalar(
                        select(func.count())
                        .select_from(InboundMail)
                        .where(InboundMail.state != "received")
                    )
                    or 0
                )
            samples.append((done, rss_kb(proc.pid)))
        processed_s = time.perf_counter() - started
        if args.profile:
            await _stop_profile(proc, Path(args.profile))
        accept_s = await sending
        peak = rss_kb(proc.pid, "VmHWM")
        workers = sum(rss_kb(c) for c in children(proc.pid))
        # CPU time moves far less than mails/s with what else runs on the machine.
        cpu_main, cpu_workers = (
            after - before for after, before in zip(_daemon_cpu(proc.pid), cpu_before, strict=True)
        )
        async with db.reader() as s:
            states = dict(
                (
                    await s.execute(
                        select(InboundMail.state, func.count()).group_by(InboundMail.state)
                    )
                ).all()
            )
    finally:
        proc.terminate()
        await proc.wait()
        await db.dispose()
        if dovecot is not None:
            dovecot.stop()
    what = "appended to Dovecot beforehand" if args.path == "imap" else "accepted"
    print(f"{what}:  {len(mails) / accept_s:8.1f} mails/s ({accept_s:.1f}s)")
    print(f"processed: {len(mails) / processed_s:8.1f} mails/s end to end ({processed_s:.1f}s)")
    print(f"states: {states}")
    print(
        f"daemon CPU: {(cpu_main + cpu_workers) * 1000 / len(mails):.2f} ms a mail "
        f"(main process {cpu_main * 1000 / len(mails):.2f}, parse workers "
        f"{cpu_workers * 1000 / len(mails):.2f}; from serving to the last mail settled)"
    )
    print(
        f"daemon main process: peak RSS {peak / 1024:.0f} MB; parse workers now "
        f"{workers / 1024:.0f} MB"
    )
    step = max(1, len(mails) // 10)
    marks = []
    for target in range(step, len(mails) + 1, step):
        rss = next((r for d, r in samples if d >= target), samples[-1][1])
        marks.append(f"{target}:{rss / 1024:.0f}")
    print("RSS (MB) by mails processed: " + " ".join(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", choices=("smtp", "imap", "http"), default="smtp")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the daemon's main thread (its CPU clock)"
    )
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
