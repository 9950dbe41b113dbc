"""SMTP listener benchmark: the DATA reader alone, chunked (ours) against aiosmtpd's own.

The listener runs in a child process with a no-op receiver (nothing stored, nothing
processed), so the figures are the SMTP session's cost only. C clients send the ingest
corpus (bench/ingest.py's mix) over one connection each. The two readers run alternately,
R rounds each, because the machine is shared: the medians are what to compare, and the
listener's CPU time per mail (from /proc) more than the wall clock.

    python -m bench.smtp --mails 2000 --connections 4 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import uvloop
from aiosmtpd.smtp import SMTP

from bench.ingest import _free_port, generate
from daemon.smtp import SupportHandler, SupportSMTP

READERS = ("chunked", "aiosmtpd")


class AiosmtpdData(SupportSMTP):
    """Our session with aiosmtpd's own line-by-line DATA reader (all else the same)."""

    smtp_DATA = SMTP.smtp_DATA


class NoStore:
    """Stands in for desk's Receiver: answers as if stored, keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, raw: bytes, envelope: Any) -> int:
        self.count += 1
        return self.count


async def serve(reader: str, port: int) -> None:
    cls = SupportSMTP if reader == "chunked" else AiosmtpdData
    handler = SupportHandler(NoStore(), ["localhost"])  # type: ignore[arg-type]

    def factory() -> SMTP:
        return cls(
            handler,
            hostname="bench",
            ident="postdesk",
            data_size_limit=30_000_000,
            enable_SMTPUTF8=True,
        )

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def send_all(port: int, mails: list[bytes], connections: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)

    async def client() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120) as smtp:
            while not queue.empty():
                await smtp.sendmail("bench@example.com", ["support@localhost"], queue.get_nowait())

    await asyncio.gather(*(client() for _ in range(connections)))


async def one_round(reader: str, mails: list[bytes], connections: int) -> tuple[float, float]:
    """Mails per second (wall clock) and the listener's CPU microseconds per mail."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.smtp", "--serve", reader, "--port", str(port)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()
        cpu_before, started = cpu_seconds(proc.pid), time.perf_counter()
        await send_all(port, mails, connections)
        wall, cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.terminate()
        await proc.wait()
    return len(mails) / wall, cpu / len(mails) * 1e6


async def run(args: argparse.Namespace) -> None:
    mails = generate(args.mails)
    print(
        f"corpus: {len(mails)} mails, {sum(map(len, mails)) / 1e6:.1f} MB; "
        f"connections: {args.connections}; rounds: {args.rounds} per reader, alternating"
    )
    results: dict[str, list[tuple[float, float]]] = {r: [] for r in READERS}
    order = itertools.islice(itertools.cycle(READERS), 2 * args.rounds)
    for reader in order:
        rate, cpu = await one_round(reader, mails, args.connections)
        results[reader].append((rate, cpu))
        print(f"  {reader:8}  {rate:7.0f} mails/s  {cpu:6.0f} µs CPU/mail", flush=True)
    for reader, rounds in results.items():
        rate = statistics.median(r for r, _ in rounds)
        cpu = statistics.median(c for _, c in rounds)
        print(f"median {reader:8}  {rate:7.0f} mails/s  {cpu:6.0f} µs CPU/mail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.port))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
