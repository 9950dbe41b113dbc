"""How `postdesk run` hears SIGTERM and SIGINT: the first asks for a graceful stop
(daemon/lifecycle.py: serve), a second one exits at once (an operator who will not wait, a
supervisor's second try), and so does a stop that overruns its bound. Exiting at once loses
nothing: mail is committed before its 250 and processing resumes after a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

log = logging.getLogger(__name__)
OVERRUN_EXIT = 1


class Signals:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._first: asyncio.Future[int] = loop.create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._heard, signum)

    async def first(self) -> int:
        """Wait for the first signal (it may have come while starting); its number."""
        return await self._first

    def exit_after(self, seconds: float) -> None:
        """Exit at once if the process is still here `seconds` from now."""
        self._loop.call_later(seconds, self._overrun, seconds)

    def _heard(self, signum: int) -> None:
        if not self._first.done():
            self._first.set_result(signum)
            return
        log.warning("second %s: exiting at once", signal.Signals(signum).name)
        _exit_now(128 + signum)  # the shell's convention for "ended by this signal"

    def _overrun(self, seconds: float) -> None:
        log.error("not stopped within %.0fs: exiting at once", seconds)
        _exit_now(OVERRUN_EXIT)


def _exit_now(code: int) -> None:
    """Leave without unwinding anything (that is what was taking too long); the parse
    workers die with the process (daemon/worker_pool.py: PR_SET_PDEATHSIG)."""
    logging.shutdown()  # flush what was logged
    os._exit(code)
