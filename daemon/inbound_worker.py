"""Turns stored mail into tickets in the background: woken by each commit, polling too,
so mail stored before a restart (or by another replica) is processed as well."""

from __future__ import annotations

import asyncio
import logging

from desk.context import Desk
from desk.intake import Prepare, Receiver, process_pending
from desk.waiting import still_running, wait_event

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
# After a wake-up, let a few more deliveries land so they share one batch: each batch
# costs a handful of queries and one durable commit however many mails it carries.
GATHER_SECONDS = 0.05


async def drain(desk: Desk, prepare: Prepare) -> int:
    """Process until nothing is waiting, including mail committed late with a lower id
    than what was just processed: the run-once form tests and `run` both use."""
    total = 0
    while (done := await process_pending(desk, prepare)) > 0:
        total += done
    return total


async def run_inbound_worker(desk: Desk, prepare: Prepare, receiver: Receiver) -> None:
    while still_running():
        receiver.stored.clear()
        try:
            await drain(desk, prepare)
        except Exception:
            # The batch rolled back and its mail is still `received`: try again shortly.
            log.exception("inbound processing failed; retrying")
            await asyncio.sleep(1)
            continue
        if await wait_event(receiver.stored, POLL_SECONDS):
            await asyncio.sleep(GATHER_SECONDS)
