"""Outbound webhooks against a real aiohttp receiver that verifies every signature with a
Standard Webhooks library, fails when told to, and counts what it sees twice."""

from __future__ import annotations

import base64
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import update
from standardwebhooks import Webhook

from daemon.lifecycle import started
from daemon.webhook_sender import GuardedResolver
from desk.models import DeliveryState, WebhookDelivery, WebhookSubscription, utcnow
from desk.people import add_user
from desk.webhooks.destinations import ForbiddenDestination, check_destination
from tests.people import Team
from tests.support import Api, free_port, http_server, rows, wait_for, wait_for_value


@dataclasses.dataclass
class Receiver:
    port: int
    secret: str = ""
    answers: list[int] = dataclasses.field(default_factory=list)  # next statuses, then 200
    seen: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ids: Counter[str] = dataclasses.field(default_factory=Counter)
    bad_signatures: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:
            self.bad_signatures += 1
            return web.Response(status=401)
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.ids[request.headers["webhook-id"]] += 1
            self.seen.append(event)
        return web.Response(status=status, text="no" if status != 200 else "ok")

    def types(self) -> list[str]:
        return [e["type"] for e in self.seen]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.ids.values())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    async with http_server(r.port, "POST", "/hooks", r.handle):
        yield r


async def _subscribe(team: Team, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    status, hook = await team.call(
        "admin", "POST", "/api/webhooks/", json={"url": receiver.url, "events": events}
    )
    assert status == 201, hook
    receiver.secret = hook["secret"]
    return hook


async def _deliveries(team: Team, hook_id: int) -> list[dict[str, Any]]:
    status, body = await team.call("admin", "GET", f"/api/webhooks/{hook_id}/deliveries/")
    assert status == 200
    return list(body["results"])


async def _settled(team: Team, hook_id: int, count: int) -> list[dict[str, Any]] | None:
    found = await _deliveries(team, hook_id)
    return found if [d["state"] for d in found] == ["delivered"] * count else None


async def _logged(team: Team, hook_id: int, attempts: int) -> dict[str, Any] | None:
    """The hook's newest delivery once `attempts` attempts are logged and the last one is
    recorded on it (the list's queries are not one snapshot, so wait for both)."""
    found = await _deliveries(team, hook_id)
    if not found or len(found[0]["attempt_log"]) != attempts:
        return None
    last = found[0]["attempt_log"][-1]
    seen = (found[0]["last_status"], found[0]["last_error"]) == (last["status"], last["error"])
    return found[0] if seen else None


async def _due_now(daemon) -> None:
    """Time travel for the retry schedule: what waits for its next attempt is due now."""
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.state == DeliveryState.PENDING.value)
            .values(next_attempt_at=utcnow())
        )


async def test_events_arrive_signed_and_only_those_subscribed(team: Team, daemon, receiver):
    hook = await _subscribe(team, receiver, ["ticket.*", "message.created"])
    assert hook["secret"].startswith("whsec_")
    ticket = await team.open_ticket("carol", "Webhooks please")
    await wait_for_value(lambda: len(receiver.seen) >= 2, what="two deliveries")
    status, _ = await team.call(
        "admin", "POST", "/api/chat/rooms/", json={"name": "ops", "type": "group"}
    )
    assert status == 201
    status, _ = await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "psst", "is_internal": True},
    )
    assert status == 201
    await wait_for_value(lambda: len(receiver.seen) >= 3, what="the note's delivery")
    assert receiver.types() == ["ticket.created", "message.created", "message.created"]
    created = receiver.seen[0]
    assert created["data"]["ticket"]["id"] == ticket and created["data"]["ticket"]["subject"] == (
        "Webhooks please"
    )
    assert receiver.seen[2]["data"]["message"]["is_internal"] is True
    assert receiver.bad_signatures == 0 and receiver.duplicates == 0
    # The receiver answers before the sender records the answer: wait for the record.
    deliveries = await wait_for(lambda: _settled(team, hook["id"], 3), what="3 delivered")
    assert deliveries[0]["attempt_log"][0]["status"] == 200
    # The secret is shown when made, never again.
    status, again = await team.call("admin", "GET", f"/api/webhooks/{hook['id']}/")
    assert status == 200 and "secret" not in again


async def test_failures_are_retried_then_delivered_once(team: Team, daemon, receiver):
    hook = await _subscribe(team, receiver, ["ticket.created"])
    receiver.answers = [503, 500]
    await team.open_ticket("carol", "flaky receiver")

    d = await wait_for(lambda: _logged(team, hook["id"], 1), what="the first failed attempt")
    assert d["state"] == "pending" and d["last_status"] == 503
    for expected in (2, 3):
        await _due_now(daemon)  # the sender or the retry job, whichever comes first, sends it
        await daemon.scheduler.run("webhook-retry")

        d = await wait_for(
            lambda n=expected: _logged(team, hook["id"], n), what=f"attempt {expected}"
        )
    assert d["state"] == "delivered"
    assert [a["status"] for a in d["attempt_log"]] == [503, 500, 200]
    assert receiver.types() == ["ticket.created"] and receiver.duplicates == 0
    # A redelivery by hand carries the same webhook-id: the receiver can tell.
    status, _ = await team.call(
        "admin", "POST", f"/api/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver/"
    )
    assert status == 202
    await wait_for_value(lambda: receiver.duplicates == 1, what="the redelivery")


async def test_a_refusal_is_final_and_a_dead_receiver_is_retried(team: Team, daemon, receiver):
    hook = await _subscribe(team, receiver, ["ticket.created"])
    receiver.answers = [400]
    await team.open_ticket("carol", "refused")

    d = await wait_for(lambda: _logged(team, hook["id"], 1), what="the refusal")
    assert d["state"] == "failed" and d["next_attempt_at"] is None
    status, gone = await team.call(
        "admin",
        "POST",
        "/api/webhooks/",
        json={"url": f"http://127.0.0.1:{free_port()}/", "events": ["ticket.created"]},
    )
    assert status == 201
    await team.open_ticket("dave", "nobody listens")

    d = await wait_for(lambda: _logged(team, gone["id"], 1), what="an attempt on a closed port")
    assert d["state"] == "pending" and d["last_status"] is None
    assert "Connect" in d["last_error"] and d["next_attempt_at"] is not None


async def test_a_day_of_failures_disables_the_webhook_and_tells_admins(
    team: Team, daemon, receiver, sink
):
    hook = await _subscribe(team, receiver, ["ticket.created"])
    receiver.answers = [503] * 10
    await team.open_ticket("carol", "down all day")
    await wait_for(lambda: _logged(team, hook["id"], 1), what="a first attempt, logged")
    day_ago = utcnow() - timedelta(hours=25)
    async with daemon.desk.db.writer() as session:
        await session.execute(update(WebhookDelivery).values(created_at=day_ago))
        await session.execute(update(WebhookSubscription).values(failing_since=day_ago))
    await _due_now(daemon)
    await daemon.scheduler.run("webhook-retry")

    async def disabled() -> WebhookSubscription | None:
        [sub] = await rows(daemon, WebhookSubscription)
        return None if sub.is_active else sub

    sub = await wait_for(disabled, what="the webhook disabled")
    assert not sub.is_active and "24 hours" in (sub.disabled_reason or "")
    [d] = await _deliveries(team, hook["id"])
    assert d["state"] == "failed" and d["attempts"] == 2
    [mail] = await wait_for_value(lambda: sink.to("admin@localhost"), what="the admin's mail")
    assert f"webhook #{hook['id']} was disabled" in mail["Subject"]
    # No new deliveries while it is off; turned back on, a redelivery goes through.
    await team.open_ticket("dave", "while disabled")
    assert len(await _deliveries(team, hook["id"])) == 1
    receiver.answers = []
    status, body = await team.call(
        "admin", "PATCH", f"/api/webhooks/{hook['id']}/", json={"is_active": True}
    )
    assert status == 200 and body["failing_since"] is None and body["disabled_reason"] is None
    status, _ = await team.call(
        "admin", "POST", f"/api/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver/"
    )
    assert status == 202
    await wait_for_value(lambda: receiver.types() == ["ticket.created"], what="redelivered")


async def test_subscriptions_are_validated(team: Team, daemon, receiver):
    async def create(**body: Any) -> tuple[int, Any]:
        return await team.call(
            "admin", "POST", "/api/webhooks/", json={"url": receiver.url, "events": ["*"], **body}
        )

    status, body = await create(events=["ticket.exploded"])
    assert status == 400 and "events" in body["details"]["fields"]
    assert "ticket.created" in body["details"]["allowed"]
    status, body = await create(url="ftp://example.com/")
    assert status == 400 and "url" in body["details"]["fields"]
    status, body = await create(url="http://user:pw@example.com/")
    assert status == 400
    status, body = await create(secret="short")
    assert status == 400 and "secret" in body["details"]["fields"]
    own = base64.b64encode(b"k" * 32).decode()
    status, hook = await create(secret=own)
    assert status == 201 and hook["secret"] == "whsec_" + own
    status, rotated = await team.call(
        "admin", "PATCH", f"/api/webhooks/{hook['id']}/", json={"rotate_secret": True}
    )
    assert status == 200 and rotated["secret"] not in (hook["secret"], None)
    status, _ = await team.call("admin", "DELETE", f"/api/webhooks/{hook['id']}/")
    assert status == 204
    assert (await team.call("admin", "GET", f"/api/webhooks/{hook['id']}/"))[0] == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
async def test_internal_destinations_are_refused(url: str):
    with pytest.raises(ForbiddenDestination):
        await check_destination(url, allow_private=False)
    await check_destination(url, allow_private=True)  # the setting lifts the rule


async def test_the_sender_refuses_a_name_that_turns_internal():
    """DNS rebinding: the check at connection time, whatever the name resolved to before."""
    resolver = GuardedResolver()
    try:
        with pytest.raises(OSError, match="may not reach"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def test_without_the_setting_the_api_refuses_loopback(settings, receiver):
    closed = dataclasses.replace(
        settings, webhook_allow_private=False, http_port=free_port(), smtp_port=free_port()
    )
    async with started(closed) as running, aiohttp.ClientSession() as http:
        async with running.desk.db.writer() as session:
            await add_user(session, email="root@localhost", role="admin", password="pw pw pw 1")
        api = Api(base=f"http://127.0.0.1:{closed.http_port}", http=http)
        token = await api.token("root@localhost", "pw pw pw 1")
        status, body = await api.call(
            "POST", "/api/webhooks/", token, json={"url": receiver.url, "events": ["*"]}
        )
        assert status == 400 and body["error"] == "forbidden_destination"
