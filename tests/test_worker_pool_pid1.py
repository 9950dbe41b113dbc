"""The daemon as pid 1, as in a container (`docker run`/`podman run` start `postdesk run`
as the first process of a PID namespace). Parse workers must start and parse there: they
once took "my parent is pid 1" for "my parent died" and exited at once, so the image's
first start failed with BrokenProcessPool (found running the built image under podman).

The namespace is made with util-linux's `unshare` (a user namespace maps us to root
inside it, so no privilege is needed); where the kernel refuses user or PID namespaces
the test skips and says so."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]

# Runs inside the namespace: prints its pid, then the subject the worker parsed.
SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from daemon.worker_pool import WorkerPool
    from desk.mail.parse import Limits
    from desk.mail.prepare import Parsed

    async def main() -> None:
        pool = WorkerPool(Limits(), sys.argv[1], workers=1)
        try:
            await pool.warm()
            raw = b"From: a@example.org\\r\\nTo: support@localhost\\r\\n" \\
                  b"Subject: parsed as pid 1\\r\\n\\r\\nHello\\r\\n"
            result = await pool.prepare(raw)
            assert isinstance(result, Parsed), result
            print(os.getpid(), result.mail.subject, sep="\\n")
        finally:
            pool.close()

    asyncio.run(main())
    """
)


def namespaces_allowed() -> str | None:
    """None when `unshare` can make a user and PID namespace here, else why not."""
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"the kernel refuses user/PID namespaces here: {probe.stderr.strip()}"
    return None


def test_parse_workers_start_and_parse_when_the_daemon_is_pid_1(tmp_path: Path) -> None:
    reason = namespaces_allowed()
    if reason is not None:
        pytest.skip(reason)
    ran = subprocess.run(
        [*UNSHARE, sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    pid, subject = ran.stdout.split("\n")[:2]
    assert pid == "1"  # the daemon's side really ran as the namespace's first process
    assert subject == "parsed as pid 1"
