"""CPU work runs in worker processes: parsing inbound mail (the event loop keeps answering
SMTP clients while a hostile mail burns its CPU budget; a worker that hangs or dies is
replaced) and composing outgoing mail."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

from desk.mail.compose import compose_spec
from desk.mail.parse import Limits
from desk.mail.prepare import ParseResult, prepare, unreadable

log = logging.getLogger(__name__)
WORKER_MEMORY_BYTES = 4 * 1024**3
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def _init_worker(parent_pid: int) -> None:
    # A decompression or MIME bomb gets a MemoryError (a failed mail), not the whole machine.
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    """A daemon killed with SIGKILL must not leave its workers behind (Linux: prctl).

    `parent_pid` is the daemon's pid, taken before the worker was spawned. The worker
    compares against it, not against 1: in a container the daemon itself is pid 1, and a
    worker that took "my parent is 1" for "my parent died" exited at once (every start
    in the image failed with BrokenProcessPool)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(0)


def _started() -> None:
    """Nothing: that a worker ran it means the worker is up, with the parser imported."""


class WorkerPool:
    def __init__(self, limits: Limits, attachments_dir: str, workers: int | None = None) -> None:
        self._limits = limits
        self._dir = attachments_dir
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._pool = self._new_pool()
        # Wall-clock guard for work the CPU timer cannot interrupt (C code, a stuck worker).
        self._timeout = limits.cpu_seconds * 3 + 5

    @property
    def pids(self) -> list[int]:
        """The worker processes running now (they start as work arrives)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [pid for pid in processes if pid is not None]

    @property
    def broken(self) -> bool:
        """Whether the pool has noticed a dead worker (it is replaced at the next work)."""
        return bool(getattr(self._pool, "_broken", False))

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: forking a process that runs an event loop and database threads is unsafe.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    async def warm(self) -> None:
        """Start the worker processes now, before any mail is taken. A spawned worker
        imports the parser first (seconds on a busy machine): counted against the first
        mail's wall-clock budget, that would make the mail unreadable (kept raw, with a
        "parsing exceeded" note) for no fault of its own."""
        loop = asyncio.get_running_loop()
        # One call per worker at once: the pool spawns a process for each call it cannot
        # hand to an idle worker.
        calls = [loop.run_in_executor(self._pool, _started) for _ in range(self._workers)]
        await asyncio.gather(*calls)

    async def prepare(self, raw: bytes) -> ParseResult:
        """A dead worker may have died of another mail: this one gets a second try. A mail
        that kills the worker both times is an unreadable-mail ticket with the reason."""
        for _attempt in (1, 2):
            pool, future = self._submit(partial(prepare, raw, self._limits, self._dir))
            try:
                async with asyncio.timeout(self._timeout):
                    return await future
            except TimeoutError:
                self._replace(pool, "a worker exceeded the wall-clock budget")
                return await self._unreadable(raw, f"parsing exceeded {self._timeout:g}s")
            except BrokenProcessPool:
                self._replace(pool, "a worker process died")
        return await self._unreadable(raw, "the parser process died on this mail")

    async def _unreadable(self, raw: bytes, reason: str) -> ParseResult:
        """Still a ticket an agent sees (raw attached, reason noted): the cheap header scan
        runs in a thread, never the parse that failed."""
        return await asyncio.to_thread(unreadable, raw, reason, self._dir)

    async def compose(self, spec: dict[str, Any], message_id: str) -> bytes:
        """Compose in a worker; a worker that died (of whatever) gets the work a second time
        in a new pool. Raises BrokenProcessPool if that dies too (the sender fails the row)."""
        for attempt in (1, 2):
            pool, future = self._submit(partial(compose_spec, spec, message_id))
            try:
                return await future
            except BrokenProcessPool:
                self._replace(pool, "a worker process died")
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _submit(self, call: Callable[[], T]) -> tuple[ProcessPoolExecutor, asyncio.Future[T]]:
        """Hand `call` to the pool; return the pool and the result's future. A pool found
        broken already (a worker died since the last piece of work, e.g. killed from
        outside) is replaced first: not this work's fault, so not one of its attempts."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            return pool, loop.run_in_executor(pool, call)
        except BrokenProcessPool:
            self._replace(pool, "a worker process died")
            pool = self._pool
            return pool, loop.run_in_executor(pool, call)

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        if broken is not self._pool:
            return  # another task already replaced it
        log.warning("replacing the parse pool: %s", why)
        self._pool = self._new_pool()
        for process in list(getattr(broken, "_processes", {}).values()):
            process.kill()  # shutdown() would wait for the stuck worker forever
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop now: a worker stuck on a hostile mail must not hold up shutdown (that mail
        is still `received` and is parsed again on the next start)."""
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
