"""`postdesk run` needs the web server it finds through the `postdesk.components` entry
point: without it, it stops at once with a one-line error instead of running without one."""

from __future__ import annotations

import asyncio
import os
import sys

# The daemon as an installation without the web entry point would run it.
WITHOUT_WEB = """
import importlib.metadata as metadata
import sys
real = metadata.entry_points
def entry_points(**params):
    found = real(**params)
    if params.get("group") == "postdesk.components":
        return metadata.EntryPoints(ep for ep in found if ep.name != "web")
    return found
metadata.entry_points = entry_points
from daemon.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def run_without_web(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", WITHOUT_WEB, *args),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):  # a daemon that started anyway is stopped, not left
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, err.decode()


async def test_missing_web_component_is_a_clear_error(env):
    for role in ("all", "web"):
        code, err = await run_without_web(env, "run", "--role", role)
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("postdesk: the web server is not installed")
