"""Waiting helpers for the background loops.

asyncio.wait_for on Python 3.11 can swallow a cancellation that arrives as the awaited
thing completes (CPython gh-86296), leaving a task that never stops; asyncio.timeout
does not have that flaw, so every loop waits through these.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel until the task has ended: a library on its path may swallow one cancellation
    (SQLAlchemy's pool does while it resets a connection), and stopping must still stop."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s had failed", task.get_name(), exc_info=task.exception())


def still_running() -> bool:
    """False once someone asked this task to stop, even if the CancelledError was lost."""
    task = asyncio.current_task()
    return task is None or task.cancelling() == 0
