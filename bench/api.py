"""API benchmark: GET /api/tickets/ (a page of 50, as an agent) and GET /api/tickets/<id>/
against a generated desk, measured in the same run as a bare aiohttp handler that returns a
fixed 50-item JSON list. Also counts the SQL statements one list request runs at page sizes
10, 50 and 200 (they must not grow: no N+1).

    python -m bench.api --database postgresql+asyncpg://postgres@127.0.0.1/postdesk_bench \
        [--tickets 100000 --messages 500000 --seconds 10 --concurrency 16]

Without --database it runs on SQLite in a temporary folder. The database is dropped and
rebuilt on every run (unless --reuse finds the same desk in
it); never point it at real data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from sqlalchemy import event
from sqlalchemy.orm import selectinload

from bench.desk_data import PASSWORD, fresh_postgres, generate, ticket_count
from desk.config import load_settings
from desk.db import Database
from desk.models import User
from desk.tickets.queries import TicketFilter, list_tickets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def statements_per_page(db: Database) -> dict[int, int]:
    """How many SQL statements one ticket list runs, by page size."""
    async with db.reader() as s:
        agent = await s.get(User, 1, options=[selectinload(User.memberships)])
    assert agent is not None
    counts: dict[int, int] = {}
    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append("x")

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", count)
    try:
        for size in (10, 50, 200):
            seen.clear()
            await list_tickets(db, agent, TicketFilter(), offset=0, limit=size)
            counts[size] = len(seen)
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", count)
    return counts


async def _wait_port(port: int) -> None:
    for _ in range(2400):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)


async def _start_web(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "run",
        "--role",
        "web",
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _login(base: str) -> str:
    """agent0's access token, once the daemon answers."""
    async with aiohttp.ClientSession() as http:
        for _ in range(1200):  # a daemon on a busy machine may take a minute to start
            try:
                async with http.post(
                    f"{base}/api/auth/token/",
                    json={"email": "agent0@bench.test", "password": PASSWORD},
                ) as r:
                    return str((await r.json())["access"])
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"no daemon answered at {base}")


Load = dict[str, float]


async def _changing(
    base: str, token: str, tickets: list[int], per_second: float, measured: Awaitable[Load]
) -> tuple[float, Load]:
    """Run `measured` while another client changes a ticket's priority about `per_second`
    times a second (each change a committed write). Returns the changes per second
    achieved too."""
    done, changes = asyncio.Event(), 0

    async def change() -> None:
        nonlocal changes
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            while not done.is_set():
                priority = ("LOW", "MEDIUM", "HIGH")[changes % 3]
                async with http.patch(
                    f"{base}/api/tickets/{tickets[changes % len(tickets)]}/",
                    json={"priority": priority},
                ) as r:
                    assert r.status == 200, await r.text()
                changes += 1
                await asyncio.sleep(1 / per_second)

    began = time.perf_counter()
    writer = asyncio.create_task(change())
    result = await measured
    done.set()
    await writer
    return changes / (time.perf_counter() - began), result


def bare_app(payload: bytes) -> web.Application:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bare", handler)
    return app


async def load(
    url: str, token: str | None, seconds: float, concurrency: int, paths: list[str]
) -> dict[str, float]:
    """Closed-loop load: `concurrency` clients, each sending its next request when the
    previous one is answered."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def client(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                async with http.get(url + paths[i % len(paths)]) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append(time.perf_counter() - began)
                i += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="postdesk-bench-api-"))
    port = _free_port()
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": str(data_dir),
        "POSTDESK_HTTP_PORT": str(port),
        "POSTDESK_SMTP_PORT": str(_free_port()),
        "POSTDESK_ACCESS_TOKEN_MINUTES": "60",
    }
    if args.database:
        await fresh_postgres(args.database, keep=args.reuse)
        env["POSTDESK_DATABASE_URL"] = args.database
        env.setdefault("POSTDESK_SECRET_KEY", "bench-secret-" + "x" * 40)
    settings = load_settings(env, read_dotenv=False)
    db = Database(settings.database_url)
    await db.migrate()
    began = time.perf_counter()
    present = await ticket_count(db)
    if args.reuse and present == args.tickets:
        print(f"reusing the {present} tickets already generated")
    else:
        await generate(db, args.tickets, args.messages)
    print(
        f"generated {args.tickets} tickets, {args.messages} messages "
        f"in {time.perf_counter() - began:.0f}s on {db.write_engine.dialect.name}"
    )
    print("statements per list request by page size:", await statements_per_page(db))
    await db.dispose()

    daemon = await _start_web(env)
    base = f"http://127.0.0.1:{port}"
    try:
        token = await _login(base)
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{base}/api/tickets/?page_size=50", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                page = await r.json()
        payload = json.dumps(page["results"]).encode()
        print(f"agent sees {page['count']} tickets; a page of 50 is {len(payload)} bytes")

        bare_port = _free_port()
        payload_file = data_dir / "bare.json"
        payload_file.write_bytes(payload)
        bare = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.api", "--serve-bare", str(bare_port), str(payload_file)
        )
        await _wait_port(bare_port)
        rng = random.Random(5)
        visible = [t["id"] for t in page["results"]]
        pages = [f"/api/tickets/?page_size=50&page={rng.randrange(1, 20)}" for _ in range(50)]
        details = [f"/api/tickets/{i}/" for i in visible]
        bench = (args.seconds, args.concurrency)
        results = {
            "bare aiohttp handler": await load(
                f"http://127.0.0.1:{bare_port}", None, *bench, ["/bare"]
            ),
            "GET /api/tickets/ (50, agent)": await load(base, token, *bench, pages),
            "GET /api/tickets/<id>/": await load(base, token, *bench, details),
        }
        rate, during = await _changing(
            base, token, visible, args.writes, load(base, token, *bench, pages)
        )
        results[f"  the list, {rate:.0f} ticket changes/s meanwhile"] = during
        bare.terminate()
        await bare.wait()
    finally:
        daemon.terminate()
        await daemon.wait()
    bare_rps = results["bare aiohttp handler"]["rps"]
    for name, got in results.items():
        print(
            f"{name:42s} {got['rps']:8.0f} req/s  p50 {got['p50_ms']:6.1f} ms  "
            f"p95 {got['p95_ms']:6.1f} ms  p99 {got['p99_ms']:6.1f} ms  "
            f"errors {got['errors']:.0f}  ({got['rps'] / bare_rps:.0%} of bare)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="postgresql+asyncpg://... (dropped!)")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--writes", type=float, default=20, help="ticket changes per second in the last run"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="PostgreSQL: keep a desk generated by an earlier run"
    )
    parser.add_argument(
        "--serve-bare", nargs=2, metavar=("PORT", "PAYLOAD"), help=argparse.SUPPRESS
    )  # the bare handler's own process
    args = parser.parse_args()
    if args.serve_bare:
        port, payload = args.serve_bare
        web.run_app(
            bare_app(Path(payload).read_bytes()),
            loop=uvloop.new_event_loop(),  # as the daemon runs
            host="127.0.0.1",
            port=int(port),
            access_log=None,
            print=None,
        )
        return
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
