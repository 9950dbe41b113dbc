"""Live events over real WebSocket connections: who gets what, close codes, resume, slow
clients, and (with Redis) events crossing from one web process to another."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import sys
from typing import Any

import aiohttp
import pytest

from tests.people import Team
from tests.sockets import WS_TIMEOUT, Live, closed_with, next_event
from tests.support import Api, free_port, wait_for


async def test_ticket_events_reach_allowed_sockets_only(team: Team, live: Live):
    t = await team.open_ticket("carol", "Live one")
    carol = await live.connect("carol", f"/ws/tickets/{t}/")
    agent = await live.connect("agent1", f"/ws/tickets/{t}/")
    code, _ = await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{t}/messages/",
        json={"body": "internal only", "is_internal": True},
    )
    assert code == 201
    event = await next_event(agent)
    assert event["type"] == "message_created" and event["data"]["message"]["is_internal"]
    # A note never reaches a customer's socket: the next thing Carol hears is the reply.
    await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "Hi Carol"})
    for ws in (carol, agent):
        event = await next_event(ws)
        assert event["type"] == "message_created"
        assert event["data"]["message"]["body"] == "Hi Carol" and event["id"]
    await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    kinds = {(await next_event(carol))["type"], (await next_event(carol))["type"]}
    assert kinds == {"assignment_updated", "status_changed"}
    await team.call("agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "RESOLVED"})
    while (event := await next_event(carol))["type"] != "status_changed":
        pass
    assert event["data"]["to"] == "RESOLVED"
    for ws in (carol, agent):
        await ws.close()


async def test_tags_are_for_the_team_only(team: Team, live: Live):
    """Tags are internal (as in Zammad and FreeScout): not in a customer's detail, list or
    resumed events, and a change of tags alone is not an event for them."""
    t = await team.open_ticket("carol", "Tagged")
    carol = await live.connect("carol", f"/ws/tickets/{t}/")
    agent = await live.connect("agent1", f"/ws/tickets/{t}/")
    path = f"/api/tickets/{t}/"
    assert (await team.call("agent1", "PATCH", path, json={"tags": ["angry-customer"]}))[0] == 200
    tagged = await next_event(agent)
    assert tagged["data"]["fields"] == ["tags"]
    changed = {"subject": "Tagged again", "tags": ["angry-customer", "vip"]}
    assert (await team.call("agent1", "PATCH", path, json=changed))[0] == 200
    assert sorted((await next_event(agent))["data"]["fields"]) == ["subject", "tags"]
    event = await next_event(carol)  # the tags-only change never came
    assert event["type"] == "ticket_updated" and event["data"]["fields"] == ["subject"]
    assert event["fields"] == ["subject"] and "angry" not in str(event)
    since = f"last_event_id={int(tagged['id']) - 1}"  # from the tags-only change on
    resumed = await live.connect("carol", f"/ws/tickets/{t}/", query=since)
    assert [(e["type"], e["data"]["fields"]) for e in live.replayed] == [
        ("ticket_updated", ["subject"])
    ]
    status, detail = await team.call("carol", "GET", path)
    assert status == 200 and "tags" not in detail and detail["subject"] == "Tagged again"
    status, listing = await team.call("carol", "GET", "/api/tickets/")
    assert status == 200 and all("tags" not in row for row in listing["results"])
    status, detail = await team.call("agent1", "GET", path)
    assert detail["tags"] == ["angry-customer", "vip"]
    for ws in (carol, agent, resumed):
        await ws.close()


async def test_inbound_mail_reaches_the_ticket_socket(team: Team, live: Live, daemon, sink):
    from tests.support import make_mail, send, wait_for_value

    t = await team.open_ticket("carol", "By mail")
    [ack] = await wait_for_value(lambda: sink.to("carol@example.com"), what="acknowledgement")
    ws = await live.connect("agent2", f"/ws/tickets/{t}/")
    raw, _ = make_mail(
        sender="carol@example.com",
        subject="Re: more",
        body="More details",
        in_reply_to=ack["Message-ID"],
    )
    await send(daemon.smtp_port, raw, sender="carol@example.com")
    event = await next_event(ws)
    assert event["type"] == "message_created" and event["data"]["message"]["source"] == "smtp"
    await ws.close()


async def test_close_codes(team: Team, live: Live):
    t = await team.open_ticket("carol", "Private")
    ws = await live.connect(None, f"/ws/tickets/{t}/", ready=False)
    assert await closed_with(ws) == 4401
    ws = await live.connect(None, f"/ws/tickets/{t}/", query="token=garbage", ready=False)
    assert await closed_with(ws) == 4401
    ws = await live.connect("dave", f"/ws/tickets/{t}/", ready=False)
    assert await closed_with(ws) == 4404  # as REST: another's ticket does not exist for you
    ws = await live.connect("carol", "/ws/tickets/999999/", ready=False)
    assert await closed_with(ws) == 4404
    # The token may come in Sec-WebSocket-Protocol instead of the URL.
    ws = await live.connect(None, f"/ws/tickets/{t}/", protocols=("bearer", team.tokens["carol"]))
    assert ws.protocol == "bearer"
    await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "hello"})
    assert (await next_event(ws))["type"] == "message_created"
    # Access lost while subscribed: the ticket goes to another agent.
    agent2 = await live.connect("agent2", f"/ws/tickets/{t}/")
    await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert await closed_with(agent2) == 4403
    # Logging out ends the session; an open socket notices when it re-checks or expires.
    await ws.close()


async def test_resume_from_last_event_id(team: Team, live: Live):
    t = await team.open_ticket("carol", "Resume")
    ws = await live.connect("carol", f"/ws/tickets/{t}/")
    await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "one"})
    seen = await next_event(ws)
    await ws.close()
    for body in ("two", "three"):
        await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": body})
    await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{t}/messages/",
        json={"body": "secret", "is_internal": True},
    )
    ws = await live.connect("carol", f"/ws/tickets/{t}/", query=f"last_event_id={seen['id']}")
    missed = live.replayed
    assert [e["data"]["message"]["body"] for e in missed] == ["two", "three"]
    assert int(missed[0]["id"]) > int(seen["id"])
    # Then live events, without the internal note and without repeats.
    for body in ("four", "five"):
        await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": body})
        assert (await next_event(ws))["data"]["message"]["body"] == body
    await ws.close()


async def test_notifications_socket_carries_my_events(team: Team, live: Live):
    agent = await live.connect("agent1", "/ws/notifications/")
    carol = await live.connect("carol", "/ws/notifications/")
    dave = await live.connect("dave", "/ws/notifications/")
    t = await team.open_ticket("carol", "Notify me")
    assert (await next_event(carol))["type"] in ("ticket_created", "message_created")
    await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    event = await next_event(agent)
    assert event["type"] in ("assignment_updated", "status_changed") and event["ticket_id"] == t
    await team.call("carol", "POST", f"/api/tickets/{t}/messages/", json={"body": "any news?"})
    while (event := await next_event(agent))["type"] != "message_created":
        pass
    assert event["data"]["message"]["body"] == "any news?"
    # Nothing of Carol's reached Dave: the first thing he hears is about his own ticket.
    own = await team.open_ticket("dave", "Mine")
    assert (await next_event(dave))["ticket_id"] == own
    for ws in (agent, carol, dave):
        await ws.close()


async def test_slow_client_is_closed_and_others_keep_going(team: Team, live: Live, monkeypatch):
    """A client that stops reading fills its socket buffers, then its queue: it is closed
    with 4008 while a client that reads gets every event."""
    import web.realtime.hub

    monkeypatch.setattr(web.realtime.hub, "QUEUE_SIZE", 4)
    t = await team.open_ticket("carol", "Busy")
    # The slow client's receive buffer is kept small, so its backlog reaches the server.
    small = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with aiohttp.ClientSession(connector=small) as http:
        slow_live = Live(Team(Api(team.api.base, http), team.users, team.tokens))
        slow = await slow_live.connect("agent1", f"/ws/tickets/{t}/")
        await _flood_while_one_reads(team, live, slow, t)


def _small_receive_buffer(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    return sock


async def _flood_while_one_reads(team: Team, live: Live, slow: Any, t: int) -> None:
    fast = await live.connect("carol", f"/ws/tickets/{t}/")
    received: list[dict] = []

    async def read_fast() -> None:
        while True:
            received.append(await next_event(fast))

    reader = asyncio.create_task(read_fast())
    big = "x" * 90_000  # ~180 KB a frame (the body travels as text and as the new part)
    sent = 40  # ~7 MB: more than the server's send buffer (4 MB at most here) can hold
    for n in range(sent):
        code, _ = await team.call(
            "agent2", "POST", f"/api/tickets/{t}/messages/", json={"body": f"{n} {big}"}
        )
        assert code == 201

    async def all_received() -> bool:
        await asyncio.sleep(0)
        return len(received) >= sent

    await wait_for(all_received, what="the reading client's events")
    reader.cancel()
    frames = 0
    while (message := await slow.receive(timeout=WS_TIMEOUT)).type == aiohttp.WSMsgType.TEXT:
        frames += 1
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 4008
    assert frames < sent == len(received)
    await fast.close()


async def test_event_crosses_web_processes_through_redis(team: Team, live: Live, backend, env):
    if backend != "postgres":
        pytest.skip("needs Redis: runs with the postgres backend")
    port = free_port()
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "run",
        "--role",
        "web",
        env={**os.environ, **env, "POSTDESK_HTTP_PORT": str(port)},
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def up() -> bool:
            try:
                async with team.api.http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(up, what="second web process")
        t = await team.open_ticket("carol", "Across")
        ws = await live.connect("carol", f"/ws/tickets/{t}/", base=f"ws://127.0.0.1:{port}")
        # The reply is posted to the first process; the socket is held by the second.
        await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "via redis"})
        event = await next_event(ws)
        assert event["data"]["message"]["body"] == "via redis"
        await ws.close()
    finally:
        other.terminate()
        await other.wait()


async def test_redis_outage_loses_nothing_and_events_come_back(settings):
    """Redis goes away: the API keeps answering and storing; the events of that time are
    not lost (a reconnecting socket gets them from the database); when Redis is back, live
    events flow again."""
    from dataclasses import replace

    from daemon.lifecycle import started
    from tests.conftest import REDIS_URL, bounded
    from tests.people import PASSWORD
    from tests.support import TcpProxy

    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    db_number = REDIS_URL.rsplit("/", 1)[-1]
    context = started(replace(settings, redis_url=f"redis://127.0.0.1:{proxy.port}/{db_number}"))
    running = await context.__aenter__()
    try:
        async with aiohttp.ClientSession() as http:
            team = Team(Api(f"http://127.0.0.1:{settings.http_port}", http))
            for name, role, email in (
                ("agent1", "agent", "agent1@localhost"),
                ("carol", "customer", "carol@example.com"),
            ):
                async with running.desk.db.writer() as session:
                    from desk.people import add_user

                    team.users[name] = await add_user(
                        session, email=email, role=role, password=PASSWORD, name=name
                    )
                team.tokens[name] = await team.api.token(email, PASSWORD)
            live = Live(team)
            t = await team.open_ticket("carol", "Outage")
            ws = await live.connect("carol", f"/ws/tickets/{t}/")
            await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "a"})
            seen = await next_event(ws)

            await proxy.cut()
            code, _ = await team.call(
                "agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "during the outage"}
            )
            assert code == 201  # the API works and the message is stored
            _, detail = await team.call("carol", "GET", f"/api/tickets/{t}/")
            assert "during the outage" in [m["body"] for m in detail["messages"]]

            await proxy.start()

            # Live events flow again once the listener has reconnected (it backs off).
            async def delivered() -> bool:
                await team.call(
                    "agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "after"}
                )
                try:
                    event = await next_event(ws, timeout=1)
                except TimeoutError:
                    return False
                return event["data"]["message"]["body"] == "after"

            await wait_for(delivered, timeout=40, what="events after Redis came back")
            await ws.close()
            # What was published while Redis was away is in the database for a resume.
            again = await live.connect(
                "carol", f"/ws/tickets/{t}/", query=f"last_event_id={seen['id']}"
            )
            assert "during the outage" in [e["data"]["message"]["body"] for e in live.replayed]
            await again.close()
    finally:
        await bounded(context.__aexit__(None, None, None), "stopping the daemon")
        await proxy.cut()


async def test_socket_closes_when_its_token_expires(team: Team, live: Live, daemon):
    """A token that expires while its socket is open ends the subscription with 4401."""
    import uuid
    from datetime import timedelta

    from desk.auth.tokens import issue
    from desk.models import AuthSession

    t = await team.open_ticket("carol", "Short-lived")
    sid = uuid.uuid4().hex
    async with daemon.desk.db.writer() as session:
        session.add(AuthSession(id=sid, user_id=team.id("carol"), current_jti=uuid.uuid4().hex))
    team.tokens["brief"] = issue(
        daemon.desk.settings, team.id("carol"), "access", timedelta(seconds=2), sid=sid
    )
    ws = await live.connect("brief", f"/ws/tickets/{t}/")
    assert await closed_with(ws) == 4401


@pytest.mark.parametrize("path", ["/ws/notifications/", "/ws/inbox/", "/ws/tickets/{t}/"])
async def test_a_client_that_goes_away_while_connecting_is_no_error(
    team: Team, path: str, caplog: pytest.LogCaptureFixture
):
    """A browser navigating away mid-handshake: the server logs no ERROR, answers no 500."""
    caplog.set_level(logging.DEBUG)
    ticket = await team.open_ticket("carol", "Leaving early")
    target = path.format(t=ticket)
    host, port = team.api.base.removeprefix("http://").split(":")
    for _ in range(5):  # the race (reset before, during or after the 101) both ways
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET {target}?token={team.tokens['agent1']} HTTP/1.1\r\nHost: {host}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
        )
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset, as a closed tab

    route = "/ws/tickets/{id}/" if "{t}" in path else path

    async def all_logged() -> bool:
        lines = [r for r in caplog.records if getattr(r, "route", None) == route]
        return len(lines) >= 5

    await wait_for(all_logged, what="the access lines of the five sockets")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    statuses = [getattr(r, "status", None) for r in caplog.records if r.name == "web.access"]
    assert 500 not in statuses
