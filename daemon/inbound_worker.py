"""Turns stored mail into tickets in the background: woken by each commit of the desk's
Receiver (whichever way the mail came), polling too, so mail stored before a restart (or by
another replica) is processed as well."""

from __future__ import annotations

import asyncio
import logging

from desk.context import Desk
from desk.inbound_batches import GATHER_SECONDS, Parses, Prepare, process_pending, settle_pending
from desk.waiting import still_running, wait_event

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0


async def drain(desk: Desk, prepare: Prepare, stopping: asyncio.Event | None = None) -> int:
    """Process until nothing is waiting, including mail committed late with a lower id
    than what was just processed: the run-once form tests and `run` both use. Once
    `stopping` is set, the batch being processed is finished and the rest left for later."""
    total = 0
    while not (stopping and stopping.is_set()):
        done = await process_pending(desk, prepare, stopping)
        if done == 0:
            break
        total += done
    return total


async def run_inbound_worker(desk: Desk, prepare: Prepare, stopping: asyncio.Event) -> None:
    """Process stored mail until stopped; after `stopping` (the composition root sets
    `desk.receiver.stored` with it), ends once the batch in hand is written.

    Unlike `drain` it never waits for a slow parse: the parses outlive the batches, and
    one that a batch was written without wakes the worker when it ends."""
    stored = desk.receiver.stored
    parses = Parses(prepare, wake=stored)
    try:
        while still_running() and not stopping.is_set():
            stored.clear()
            try:
                while not stopping.is_set() and await settle_pending(desk, parses, stopping):
                    pass  # again from the oldest: mail committed late with a lower id
            except Exception:
                # The batch rolled back and its mail is still `received`: try again shortly.
                log.exception("inbound processing failed; retrying")
                await asyncio.sleep(1)
                continue
            if await wait_event(stored, POLL_SECONDS):
                await asyncio.sleep(GATHER_SECONDS)  # let more deliveries join the first batch
    finally:
        parses.cancel()
