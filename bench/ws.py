"""WebSocket fan-out benchmark: 1,000 clients subscribed to one ticket, then 1,000 clients on
1,000 different tickets; an agent replies through the API and every client's delay until
it has the event is measured (p50/p99/max), with the server's memory per connection.

    python -m bench.ws [--clients 1000] [--rounds 5]
    python -m bench.ws --database postgresql+asyncpg://postgres@127.0.0.1/postdesk_ws \\
        --redis redis://127.0.0.1:6379/0 [--two-processes]

With --two-processes the sockets are held by a second `postdesk run --role web` process and
the replies go to the first: every event crosses Redis. The PostgreSQL database is dropped
and rebuilt on every run; never point it at real data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

from bench.desk_data import PASSWORD, fresh_postgres
from bench.ingest import _free_port as free_port
from bench.ingest import rss_kb
from desk.auth.passwords import hash_password
from desk.config import load_settings
from desk.db import Database
from desk.models import Ticket, TicketMessage, User


async def seed(db: Database, tickets: int) -> None:
    password = hash_password(PASSWORD)
    async with db.writer() as s:
        await s.execute(
            insert(User),
            [
                {"email": "agent@bench.test", "role": "agent", "password_hash": password},
                {"email": "admin@bench.test", "role": "admin", "password_hash": password},
                {"email": "customer@example.com", "role": "customer"},
            ],
        )
        await s.execute(
            insert(Ticket), [{"subject": f"t{i}", "customer_id": 3} for i in range(tickets)]
        )
        await s.execute(
            insert(TicketMessage),
            [{"ticket_id": i + 1, "kind": "inbound", "body_text": "hello"} for i in range(tickets)],
        )


async def start(env: dict[str, str], role: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "run",
        "--role",
        role,
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{env['POSTDESK_HTTP_PORT']}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("daemon did not start")


async def token(http: aiohttp.ClientSession, base: str, email: str) -> str:
    async with http.post(
        f"{base}/api/auth/token/", json={"email": email, "password": PASSWORD}
    ) as r:
        return str((await r.json())["access"])


async def subscribe(
    http: aiohttp.ClientSession, ws_base: str, access: str, tickets: list[int]
) -> list[aiohttp.ClientWebSocketResponse]:
    sockets = []
    for i in range(0, len(tickets), 100):  # 100 handshakes at a time
        batch = await asyncio.gather(
            *(
                http.ws_connect(f"{ws_base}/ws/tickets/{t}/?token={access}", heartbeat=None)
                for t in tickets[i : i + 100]
            )
        )
        for ws in batch:  # the pong comes once the subscription is in place
            await ws.send_str('{"type":"ping"}')
        for ws in batch:
            await ws.receive(timeout=30)
        sockets += batch
    return sockets


async def one_round(
    http: aiohttp.ClientSession, api_base: str, access: str, sockets: list[Any], tickets: list[int]
) -> list[float]:
    """Reply once to each distinct ticket; each socket's delay from its reply's request to
    its event."""
    sent_at: dict[int, float] = {}
    delays: list[float] = []

    async def receive(ws: Any, ticket: int) -> None:
        await ws.receive(timeout=60)
        delays.append(time.perf_counter() - sent_at[ticket])

    receivers = [
        asyncio.create_task(receive(ws, t)) for ws, t in zip(sockets, tickets, strict=True)
    ]
    targets = sorted(set(tickets))
    sem = asyncio.Semaphore(8)

    async def reply(ticket: int) -> None:
        async with sem:
            sent_at[ticket] = time.perf_counter()
            async with http.post(
                f"{api_base}/api/tickets/{ticket}/messages/",
                headers={"Authorization": f"Bearer {access}"},
                json={"body": "On it."},
            ) as r:
                assert r.status == 201, await r.text()

    await asyncio.gather(*(reply(t) for t in targets))
    await asyncio.gather(*receivers)
    return delays


def report(name: str, delays: list[float], per_conn_kb: float) -> None:
    delays = sorted(delays)
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    print(
        f"{name:44s} n={len(delays):6d}  p50 {statistics.median(delays) * 1000:7.1f} ms  "
        f"p99 {p99 * 1000:7.1f} ms  max {delays[-1] * 1000:7.1f} ms  "
        f"{per_conn_kb:5.1f} KB/connection"
    )


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="postdesk-bench-ws-"))
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": str(data_dir),
        "POSTDESK_HTTP_PORT": str(free_port()),
        "POSTDESK_SMTP_PORT": str(free_port()),
        "POSTDESK_ACCESS_TOKEN_MINUTES": "60",
    }
    if args.database:
        await fresh_postgres(args.database)
        env["POSTDESK_DATABASE_URL"] = args.database
        env.setdefault("POSTDESK_SECRET_KEY", "bench-secret-" + "x" * 40)
    if args.redis:
        env["POSTDESK_REDIS_URL"] = args.redis
    settings = load_settings(env, read_dotenv=False)
    db = Database(settings.database_url)
    await db.migrate()
    await seed(db, args.clients)
    await db.dispose()
    procs = [await start(env, "all")]
    api_base = f"http://127.0.0.1:{env['POSTDESK_HTTP_PORT']}"
    socket_env = env
    if args.two_processes:
        socket_env = {**env, "POSTDESK_HTTP_PORT": str(free_port())}
        procs.append(await start(socket_env, "web"))
    ws_base = f"ws://127.0.0.1:{socket_env['POSTDESK_HTTP_PORT']}"
    holder = procs[-1].pid
    where = "two processes via Redis" if args.two_processes else "one process"
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            agent = await token(http, api_base, "agent@bench.test")
            for name, tickets in (
                ("one ticket", [1] * args.clients),
                ("different tickets", list(range(1, args.clients + 1))),
            ):
                before = rss_kb(holder)
                sockets = await subscribe(http, ws_base, agent, tickets)
                per_conn = (rss_kb(holder) - before) / len(sockets)
                delays: list[float] = []
                for _ in range(args.rounds):
                    delays += await one_round(http, api_base, agent, sockets, tickets)
                report(f"{len(sockets)} clients, {name} ({where})", delays, per_conn)
                await asyncio.gather(*(ws.close() for ws in sockets))
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="", help="postgresql+asyncpg://... (dropped!)")
    parser.add_argument("--redis", default="")
    parser.add_argument("--two-processes", action="store_true")
    args = parser.parse_args()
    if args.two_processes and not args.redis:
        parser.error("--two-processes needs --redis")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
