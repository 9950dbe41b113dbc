"""CPU per API request of the web process: one request at a time against a desk that
bench/api.py generated, the web process's own CPU time (user + system, from /proc) over N
requests divided by N. Unlike requests per second, this hardly moves with what else the
machine runs, so it compares two commits on a shared machine.

    python -m bench.api_cpu --database postgresql+asyncpg://postgres@127.0.0.1/postdesk_bench \
        [--requests 2000] [--checkout DIR --python DIR/.venv/bin/python] [--env K=V ...]
        [--profile FILE.prof --only detail]

`--checkout`/`--python` run the web process of another commit (its own checkout and
virtualenv) against a database at that commit's migration; `--env` adds settings (for
example POSTDESK_RESPONSE_CACHE_ENTRIES=0 for commits that still had that cache). The paths
are bench/api.py's: pages 1-19 of 50 tickets as agent0, and the tickets of page 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

from bench.api import _free_port, _login

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def sequential(
    http: aiohttp.ClientSession, base: str, paths: list[str], n: int, pid: int
) -> tuple[float, float]:
    """(CPU ms of the web process per request, wall ms per request) over `n` requests."""
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    for i in range(n):
        async with http.get(base + paths[i % len(paths)]) as r:
            await r.read()
            assert r.status == 200, r.status
    return (
        (cpu_seconds(pid) - cpu) * 1000 / n,
        (time.perf_counter() - wall) * 1000 / n,
    )


async def run(args: argparse.Namespace) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": tempfile.mkdtemp(prefix="postdesk-bench-cpu-"),
        "POSTDESK_HTTP_PORT": str(port),
        "POSTDESK_SMTP_PORT": str(_free_port()),
        "POSTDESK_ACCESS_TOKEN_MINUTES": "60",
        "POSTDESK_DATABASE_URL": args.database,
        "POSTDESK_SECRET_KEY": "bench-secret-" + "x" * 40,
    }
    env.update(kv.split("=", 1) for kv in args.env)
    profiled = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    daemon = await asyncio.create_subprocess_exec(
        args.python,
        *profiled,
        "-m",
        "daemon",
        "run",
        "--role",
        "web",
        env=env,
        cwd=args.checkout,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        token = await _login(base)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{base}/api/tickets/?page_size=50") as r:
                visible = [t["id"] for t in (await r.json())["results"]]
            rng = random.Random(5)
            kinds = {
                "GET /api/tickets/ (50, agent)": [
                    f"/api/tickets/?page_size=50&page={rng.randrange(1, 20)}" for _ in range(50)
                ],
                "GET /api/tickets/<id>/": [f"/api/tickets/{i}/" for i in visible],
            }
            kinds = {k: v for k, v in kinds.items() if args.only in k}
            for paths in kinds.values():  # warm: statement caches, pools, imports
                await sequential(http, base, paths, args.requests // 4, daemon.pid)
            for _ in range(args.rounds):
                for name, paths in kinds.items():
                    cpu, wall = await sequential(http, base, paths, args.requests, daemon.pid)
                    print(f"{name:32s} CPU {cpu:5.2f} ms/request   wall {wall:5.2f} ms/request")
    finally:
        daemon.terminate()
        await daemon.wait()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="postgresql+asyncpg://... (generated)")
    parser.add_argument("--requests", type=int, default=2000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--checkout", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--profile", default="", help="cProfile the web process into this file")
    parser.add_argument("--only", default="", help="only the request kinds whose name has this")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
