"""CPU work runs in worker processes: parsing inbound mail (the event loop keeps answering
SMTP clients while a hostile mail burns its CPU budget; a worker that hangs or dies is
replaced) and composing outgoing mail."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import select
import threading
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
T = TypeVar("T")


def _init_worker(daemon_pid: int) -> None:
    # A decompression or MIME bomb gets a MemoryError (a failed mail), not the whole machine.
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    _exit_with_daemon(daemon_pid)


def _exit_with_daemon(daemon_pid: int) -> None:
    """A daemon killed with SIGKILL must not leave its workers behind: each worker watches
    the daemon's process (a Linux pidfd, readable once the process has ended) and exits
    with it.

    Not the parent-death signal: a worker's parent is the fork server, which stays while
    any worker holds its pipe, and each worker does (multiprocessing hands it over), so
    workers and server would wait on each other forever. Nor a comparison with pid 1: in a
    container the daemon itself is pid 1."""
    try:
        pidfd = os.pidfd_open(daemon_pid)
    except ProcessLookupError:  # the daemon went before the worker started
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (not Linux, or older than 5.3)
        return
    watch = threading.Thread(target=_exit_when_readable, args=(pidfd,), daemon=True)
    watch.start()


def _exit_when_readable(fd: int) -> None:
    select.select([fd], [], [])
    os._exit(0)


def _started() -> None:
    """Nothing: that a worker ran it means the worker is up, with the parser imported."""


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from multiprocessing's fork server, which imports the parser and the
    composer once: a new worker (at start, after a crash) costs a fork, not seconds of
    imports. Not plain fork: forking a process that runs an event loop and database threads
    is unsafe; the fork server is a fresh interpreter that runs neither. Where there is no
    fork server (not POSIX), spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["desk.mail.prepare", "desk.mail.compose"])
    return context


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
        return ProcessPoolExecutor(
            self._workers,
            mp_context=_context(),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    async def warm(self) -> None:
        """Start the worker processes now, before any mail is taken. The first start
        also starts the fork server, which imports the parser (seconds on a busy machine):
        counted against the first mail's wall-clock budget, that would make the mail
        unreadable (kept raw, with a "parsing exceeded" note) for no fault of its own."""
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
        # Not cancel_futures: work still queued in the old pool fails with
        # BrokenProcessPool (its caller tries it again in the new pool); a cancelled
        # future would end the task awaiting it as if it had been cancelled itself.
        broken.shutdown(wait=False)

    def close(self) -> None:
        """Stop now: a worker stuck on a hostile mail must not hold up shutdown (that mail
        is still `received` and is parsed again on the next start)."""
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
