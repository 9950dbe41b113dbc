"""Two full daemons on one PostgreSQL and Redis, as two `postdesk run` replicas behind a
load balancer: mail sent to both is processed once, every acknowledgement and webhook goes
out once, a job runs once per interval however many schedulers tick, and live events reach
sockets on both. The replicas are built by `started()`, the very composition root of
`postdesk run`, in this test's process, so each step has a run-once form to await."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from daemon.lifecycle import Running, started
from desk.config import Settings
from desk.models import (
    JobRun,
    OutboxMail,
    OutboxState,
    TicketMessage,
    WebhookDelivery,
)
from tests.people import Team
from tests.sockets import Live, until
from tests.support import Sink, free_port, http_server, make_mail, rows, send, settled, wait_for
from tests.test_webhooks import Receiver

MAILS = 6


@pytest.fixture
async def replica(settings: Settings, daemon: Running) -> AsyncIterator[Running]:
    """The second replica beside `daemon` (PostgreSQL + Redis only)."""
    if not settings.redis_url:
        pytest.skip(
            "replicas share state through PostgreSQL and events through Redis; the SQLite "
            "default is one process's database (run with POSTDESK_TEST_BACKENDS=postgres)"
        )
    second = dataclasses.replace(settings, http_port=free_port(), smtp_port=free_port())
    async with started(second) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    async with http_server(r.port, "POST", "/hooks", r.handle):
        yield r


async def _all_sent(running: Running, count: int) -> list[OutboxMail] | None:
    found = await rows(running, OutboxMail)
    done = len(found) >= count and all(m.state == OutboxState.SENT.value for m in found)
    return found if done else None


async def _all_delivered(running: Running, count: int) -> list[WebhookDelivery] | None:
    found = await rows(running, WebhookDelivery)
    return found if len(found) >= count and all(d.state == "delivered" for d in found) else None


async def test_two_replicas_process_send_and_schedule_once(
    replica: Running, team: Team, daemon: Running, sink: Sink, receiver: Receiver
):
    status, hook = await team.call(
        "admin", "POST", "/api/webhooks/", json={"url": receiver.url, "events": ["ticket.created"]}
    )
    assert status == 201
    receiver.secret = hook["secret"]
    ports = [daemon.smtp_port, replica.smtp_port]
    sends = []
    for n in range(MAILS):
        raw, _ = make_mail(sender=f"c{n}@example.com", subject=f"replica mail {n}")
        assert ports[n % 2] is not None
        sends.append(send(int(ports[n % 2] or 0), raw, sender=f"c{n}@example.com"))
    await asyncio.gather(*sends)

    stored = await settled(daemon, MAILS)
    assert [m.state for m in stored] == ["processed"] * MAILS
    assert all(m.attempts == 1 for m in stored)
    assert len(await rows(daemon, TicketMessage)) == MAILS  # one message per mail, not two

    outbox = await wait_for(lambda: _all_sent(daemon, MAILS), what="acknowledgements sent")
    assert len(outbox) == MAILS and all(m.attempts == 1 for m in outbox)
    sent_ids = Counter(str(m["Message-ID"]) for _, m in sink.messages)
    assert sorted(sent_ids) == sorted(m.message_id for m in outbox)
    assert set(sent_ids.values()) == {1}

    deliveries = await wait_for(lambda: _all_delivered(daemon, MAILS), what="webhooks delivered")
    assert len(deliveries) == MAILS
    assert len(receiver.ids) == MAILS and receiver.duplicates == 0

    for job in ("archive", "cleanup"):
        assert daemon.scheduler is not None and replica.scheduler is not None
        ran = await asyncio.gather(daemon.scheduler.run(job), replica.scheduler.run(job))
        assert sorted(ran) == [False, True], job  # one replica claims the interval
        async with daemon.desk.db.reader() as session:
            record = await session.scalar(select(JobRun).where(JobRun.name == job))
        assert record is not None and record.runs == 1


async def test_live_events_reach_sockets_on_both_replicas(team: Team, live: Live, replica: Running):
    ticket = await team.open_ticket("carol", "Seen everywhere")
    other = f"ws://127.0.0.1:{replica.desk.settings.http_port}"
    here = await live.connect("agent1", f"/ws/tickets/{ticket}/")
    there = await live.connect("agent2", f"/ws/tickets/{ticket}/", base=other)
    status, _ = await team.call(
        "carol", "POST", f"/api/tickets/{ticket}/messages/", json={"body": "any news?"}
    )
    assert status == 201
    for ws in (here, there):
        event = await until(ws, "message_created")
        assert event["data"]["message"]["body_text"].startswith("any news?")
        await ws.close()
