"""Sends the outbox: each row claimed before sending, so it goes out at most once; relay
trouble is retried with backoff, a permanent refusal is kept as failed with its reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from daemon.outbound.transport import (
    Delivered,
    PermanentSendError,
    Relay,
    SendError,
    TransientSendError,
)
from desk.context import Desk
from desk.events.tickets import MessageCreated, StatusChanged, TicketAssigned
from desk.mail.compose import UnsafeHeader
from desk.mail_brand import branded, mail_brand
from desk.notifications import tell_undelivered
from desk.outbox import (
    Claimed,
    claim_due,
    envelope_recipients,
    mark_failed,
    mark_retry,
    mark_sent,
    release,
    settle_interrupted,
)
from desk.suppressions import suppress_refused
from desk.waiting import still_running, wait_event

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
# The changes that may queue mail, so wake the sender: a new message (a reply, the
# acknowledgement, the assignee's notice), a status change and an assignment (their notices).
# Mail queued without an event (sign-in codes, a disabled webhook's notice) waits for the poll.
MAY_QUEUE_MAIL = (MessageCreated, StatusChanged, TicketAssigned)


Composer = Callable[[dict[str, Any], str], Awaitable[bytes]]


async def send_due(
    desk: Desk, relay: Relay, composer: Composer, stopping: asyncio.Event | None = None
) -> int:
    """Send what is due now; return how many rows were attempted (the run-once form). Once
    `stopping` is set, the send in flight finishes and the rest of the claim is released."""
    attempted = 0
    while not _stopped(stopping) and (rows := await claim_due(desk.db)):
        # The brand as it is now, once per claim, for the rows composed in it.
        brand = await mail_brand(desk) if any(r.raw is None for r in rows) else {}
        for index, row in enumerate(rows):
            if _stopped(stopping):
                await release(desk.db, rows[index:])
                break
            attempted += 1
            await _send_one(desk, relay, composer, row, brand)
    return attempted


def _stopped(stopping: asyncio.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


async def _send_one(
    desk: Desk, relay: Relay, composer: Composer, row: Claimed, brand: dict[str, Any]
) -> None:
    """Compose (if not yet, with the desk's `brand`: desk/mail_brand.py) and send one row.
    Whatever goes wrong is this row's: it is failed (composing is deterministic: it would
    fail again) or retried (the relay, or trouble of our own while sending), never raised
    into the batch."""
    fields: dict[str, object] = {"outbox_id": row.id}
    raw = row.raw
    if raw is None:
        try:
            raw = await composer(branded(row.spec or {}, brand), row.message_id)
        except UnsafeHeader as exc:
            await _fail(desk, row, f"not composed safely: {exc.message}", fields)
            return
        except Exception as exc:
            log.exception("outbox %s: could not be composed", row.id, extra=fields)
            await _fail(desk, row, f"could not be composed: {type(exc).__name__}: {exc}", fields)
            return
    recipients = envelope_recipients(row)
    fields["recipients"] = recipients
    try:
        sent = await relay.send(desk.settings.support_address, recipients, raw)
    except TransientSendError as exc:
        log.warning("outbox %s: relay unavailable, will retry: %s", row.id, exc, extra=fields)
        await _suppress(desk, row, exc)
        if (gave_up := await mark_retry(desk.db, row, str(exc), raw)) is not None:
            await tell_undelivered(desk, row.id, gave_up)
    except PermanentSendError as exc:
        await _suppress(desk, row, exc)
        await _fail(desk, row, str(exc), fields, what="refused by the relay")
        # One address refused: the bell names it once, with the relay's answer about it.
        said = next(iter(exc.refused.values())) if len(exc.refused) == 1 else str(exc)
        await tell_undelivered(desk, row.id, said, list(exc.refused))
    except Exception as exc:
        log.exception("outbox %s: sending failed, will retry", row.id, extra=fields)
        error = f"sending failed: {type(exc).__name__}: {exc}"
        if (gave_up := await mark_retry(desk.db, row, error, raw)) is not None:
            await tell_undelivered(desk, row.id, gave_up)
    else:
        await mark_sent(desk.db, row.id, raw)
        desk.metrics.outbox_sent.inc()
        line = "outbox %s sent to %s: %s"
        answer = sent.answer
        log.info(line, row.id, ", ".join(recipients), answer, extra={**fields, "relay": answer})
        await _suppress(desk, row, sent)


async def _suppress(desk: Desk, row: Claimed, outcome: SendError | Delivered) -> None:
    """Recipients the relay refused for good at RCPT go on the suppression list, as if
    their mail had bounced (the reason: the relay's answer)."""
    if outcome.refused:
        days = desk.settings.suppression_days
        await suppress_refused(desk.db, row.id, outcome.refused, days=days)


async def _fail(
    desk: Desk, row: Claimed, reason: str, fields: dict[str, object], what: str = "failed"
) -> None:
    """Keep the row as failed with `reason` (`postdesk outbox list`, the API show it)."""
    log.error("outbox %s: %s: %s", row.id, what, reason, extra=fields)
    desk.metrics.outbox_failed.inc()
    await mark_failed(desk.db, row.id, reason)


async def run_sender(
    desk: Desk, composer: Composer, wake: asyncio.Event, stopping: asyncio.Event
) -> None:
    """Send until stopped: at once when `wake` is set (the composition root sets it on the
    events of MAY_QUEUE_MAIL), otherwise every POLL_SECONDS (retries falling due). Once
    `stopping` is set (and `wake` with it), the send in flight finishes and the loop ends."""
    if desk.settings.relay_url is None:
        log.warning("POSTDESK_RELAY_URL is not set: outgoing mail is kept in the outbox")
        return
    relay = Relay.from_url(desk.settings.relay_url)
    while still_running() and not stopping.is_set():
        wake.clear()
        try:
            await settle_interrupted(desk.db)
            await send_due(desk, relay, composer, stopping)
        except Exception:
            log.exception("outbox sender failed; retrying")
        await wait_event(wake, POLL_SECONDS)
