"""The agent workspace's API (issue 17): saved replies with placeholders, merging tickets
(and mail to a merged ticket landing in its target, over real SMTP), presence on the ticket
socket (two real sockets; across two replicas with Redis) and the bell's notifications."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from daemon.lifecycle import Running, started
from desk.config import Settings
from desk.models import QueueMember, TicketMerge, TicketMessage, utcnow
from desk.tickets.merge import UNDO_SECONDS
from tests.people import Team
from tests.sockets import Live, next_event, until
from tests.support import (
    Sink,
    free_port,
    make_mail,
    rows,
    send,
    settled,
    wait_for,
    wait_for_value,
)

# -- saved replies ---------------------------------------------------------------------------


async def test_saved_reply_is_filled_in_for_a_ticket(team: Team):
    body = (
        "Hello {{ customer.name }}, about #{{ticket.number}} {{ticket.tag}}: fixed. {{agent.name}}"
    )
    status, made = await team.call(
        "agent1", "POST", "/api/saved-replies/", json={"title": "Fixed", "body": body}
    )
    assert status == 201, made
    assert made["placeholders"] == ["customer.name", "ticket.number", "ticket.tag", "agent.name"]
    assert made["created_by"] == team.id("agent1")
    t = await team.open_ticket("carol", "Broken")
    status, shown = await team.call(
        "agent2", "GET", f"/api/saved-replies/{made['id']}/render/?ticket={t}"
    )
    assert status == 200, shown
    assert shown["body"] == f"Hello Carol, about #{t} [#{t}]: fixed. Agent2"
    # Every agent reads the library; only the author (or an admin) changes an entry.
    status, listed = await team.call("agent2", "GET", "/api/saved-replies/")
    assert status == 200 and [r["title"] for r in listed["results"]] == ["Fixed"]
    path = f"/api/saved-replies/{made['id']}/"
    assert (await team.call("agent2", "PATCH", path, json={"title": "Mine"}))[0] == 403
    status, changed = await team.call("agent1", "PATCH", path, json={"title": "Fixed it"})
    assert status == 200 and changed["title"] == "Fixed it" and changed["body"] == body
    assert (await team.call("admin", "PATCH", path, json={"body": "Done."}))[0] == 200
    assert (await team.call("carol", "GET", "/api/saved-replies/"))[0] == 403
    assert (await team.call("agent2", "DELETE", path))[0] == 403
    assert (await team.call("agent1", "DELETE", path))[0] == 204
    assert (await team.call("agent1", "GET", path))[0] == 404


async def test_unknown_placeholders_are_refused_on_save(team: Team):
    for body in ("Hi {{customer.password}}", "{{ agent.name }} {{ }}", "{{ticket.id|e}}"):
        status, answer = await team.call(
            "agent1", "POST", "/api/saved-replies/", json={"title": "x", "body": body}
        )
        assert status == 400, answer
        assert answer["error"] == "invalid" and answer["details"]["field"] == "body"
        assert "customer.name" in answer["details"]["known"]
    status, made = await team.call(
        "agent1", "POST", "/api/saved-replies/", json={"title": "ok", "body": "{ not one }"}
    )
    assert status == 201 and made["placeholders"] == []
    path = f"/api/saved-replies/{made['id']}/"
    assert (await team.call("agent1", "PATCH", path, json={"body": "{{nope}}"}))[0] == 400
    assert (await team.call("agent1", "PATCH", path, json={"title": None}))[0] == 400


async def test_rendering_checks_the_ticket(team: Team):
    _, made = await team.call(
        "agent1", "POST", "/api/saved-replies/", json={"title": "t", "body": "{{customer.email}}"}
    )
    t = await team.open_ticket("carol", "Mine")
    await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    render = f"/api/saved-replies/{made['id']}/render/?ticket={t}"
    status, shown = await team.call("agent1", "GET", render)
    assert status == 200 and shown["body"] == "carol@example.com"
    # agent2 does not see a colleague's ticket in the default queue: as REST, 404.
    assert (await team.call("agent2", "GET", render))[0] == 404
    assert (await team.call("agent1", "GET", render.replace(f"={t}", "=999999")))[0] == 404


# -- merge -------------------------------------------------------------------------------------


async def _ack(sink: Sink, subject: str) -> dict:
    return await wait_for_value(
        lambda: next((m for m in sink.to("carol@example.com") if subject in m["Subject"]), None),
        what=f"acknowledgement of {subject}",
    )


async def test_merge_moves_the_conversation_and_mail_follows_it(
    team: Team, daemon: Running, sink: Sink
):
    first = await team.open_ticket("carol", "Printer jammed")
    second = await team.open_ticket("carol", "Printer still jammed")
    ack = await _ack(sink, "Printer jammed")
    await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{first}/messages/",
        json={"body": "Note", "is_internal": True},
    )
    status, done = await team.call(
        "admin", "POST", f"/api/tickets/{first}/merge/", json={"into": second}
    )
    assert status == 200, done
    assert (done["ticket"], done["into"], done["moved"]["messages"]) == (first, second, 2)
    _, source = await team.call("admin", "GET", f"/api/tickets/{first}/")
    assert source["status"] == "CLOSED" and source["merged_into"] == second
    assert source["messages"] == []
    _, target = await team.call("admin", "GET", f"/api/tickets/{second}/")
    assert target["merged_into"] is None
    # In the order they were written: the merged ticket's among the target's.
    assert [(m["ticket_id"], m["body"]) for m in target["messages"]] == [
        (second, "It broke."),
        (second, "It broke."),
        (second, "Note"),
    ]
    _, history = await team.call("admin", "GET", f"/api/tickets/{second}/history/")
    assert {"field": "merged_from", "to": str(first)}.items() <= history["results"][-1].items()
    # The customer answers the merged ticket's acknowledgement over SMTP: it lands in the
    # target, and so does a mail naming the merged ticket's number in its subject.
    raw, _ = make_mail(
        sender="carol@example.com",
        subject=f"Re: {ack['Subject']}",
        body="Any news?",
        in_reply_to=ack["Message-ID"],
    )
    await send(daemon.smtp_port, raw, sender="carol@example.com")
    raw, _ = make_mail(sender="carol@example.com", subject=f"[#{first}] again", body="Hello?")
    await send(daemon.smtp_port, raw, sender="carol@example.com")
    await settled(daemon, 2)
    landed = await rows(daemon, TicketMessage, TicketMessage.sender_email == "carol@example.com")
    by_body = {m.body_new.strip() or m.body_text.strip(): m.ticket_id for m in landed}
    assert by_body["Any news?"] == second and by_body["Hello?"] == second
    # Undo within the minute: what moved goes back; what came after stays in the target.
    status, undone = await team.call("admin", "POST", f"/api/tickets/{first}/unmerge/")
    assert status == 200 and undone["undone_at"] is not None
    _, source = await team.call("admin", "GET", f"/api/tickets/{first}/")
    assert source["status"] == "OPEN" and source["merged_into"] is None
    assert [m["body"] for m in source["messages"]] == ["It broke.", "Note"]
    _, target = await team.call("admin", "GET", f"/api/tickets/{second}/")
    assert "Any news?" in [m["body"].strip() for m in target["messages"]]
    assert (await team.call("admin", "POST", f"/api/tickets/{first}/unmerge/"))[0] == 409
    # After the minute an undo is refused with its reason.
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{first}/merge/", json={"into": second}
    )
    assert status == 200
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(TicketMerge)
            .where(TicketMerge.source_id == first, TicketMerge.undone_at.is_(None))
            .values(created_at=utcnow() - timedelta(seconds=UNDO_SECONDS + 1))
        )
    status, refused = await team.call("admin", "POST", f"/api/tickets/{first}/unmerge/")
    assert status == 409 and refused["details"]["reason"] == "undo_window_passed"


async def test_merge_rules(team: Team, daemon: Running, live: Live):
    a = await team.open_ticket("carol", "One")
    b = await team.open_ticket("carol", "Two")
    c = await team.open_ticket("dave", "Three")
    merge = f"/api/tickets/{a}/merge/"
    assert (await team.call("admin", "POST", merge, json={"into": a}))[0] == 400
    assert (await team.call("carol", "POST", merge, json={"into": b}))[0] == 403
    assert (await team.call("admin", "POST", merge, json={"into": 999999}))[0] == 404
    # agent2 sees neither of agent1's tickets: 404, as REST; outside a queue: 403.
    await team.call(
        "admin", "POST", f"/api/tickets/{b}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert (await team.call("agent2", "POST", merge, json={"into": b}))[0] == 404
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(QueueMember).where(QueueMember.user_id == team.id("agent1")).values(role="user")
        )
    ws = await live.connect("agent1", f"/ws/tickets/{a}/")
    status, done = await team.call("agent1", "POST", merge, json={"into": b})
    assert status == 200, done
    merged = await until(ws, "ticket.merged")
    assert merged["data"]["into"] == b and merged["data"]["ticket"]["status"] == "CLOSED"
    assert (await team.call("agent1", "POST", merge, json={"into": b}))[0] == 409
    assert (await team.call("agent1", "POST", f"/api/tickets/{c}/merge/", json={"into": a}))[
        0
    ] == 409  # a merged ticket takes no merge
    await ws.close()
    # Suggestions: the same customer's tickets opened close together, not merged ones.
    d = await team.open_ticket("carol", "Four")
    status, found = await team.call("admin", "GET", f"/api/tickets/{d}/merge-suggestions/")
    assert status == 200 and [t["id"] for t in found["results"]] == [b]
    assert (await team.call("carol", "GET", f"/api/tickets/{d}/merge-suggestions/"))[0] == 403


async def test_merge_keeps_customers_apart_and_a_merged_ticket_takes_no_message(
    team: Team, daemon: Running
):
    carols = await team.open_ticket("carol", "Invoice")
    daves = await team.open_ticket("dave", "Invoice too")
    # Two customers' tickets: refused, and each still sees only their own conversation.
    status, refused = await team.call(
        "admin", "POST", f"/api/tickets/{carols}/merge/", json={"into": daves}
    )
    assert status == 409, refused
    assert refused["details"]["reason"] == "different_customers"
    assert "belong to different customers" in refused["message"]
    status, seen = await team.call("dave", "GET", f"/api/tickets/{daves}/")
    assert status == 200 and seen["merged_into"] is None
    assert {m["author_id"] for m in seen["messages"]} == {team.id("dave")}
    assert "carol@example.com" not in {p["address"] for p in seen["participants"]}
    # The same customer's: merged; the merged ticket then takes no message from anyone.
    again = await team.open_ticket("carol", "Invoice again")
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{carols}/merge/", json={"into": again}
    )
    assert status == 200
    for who, body in (
        ("admin", {"body": "Reply"}),
        ("admin", {"body": "Note", "is_internal": True}),
        ("carol", {"body": "Hello?"}),
    ):
        status, refused = await team.call(
            who, "POST", f"/api/tickets/{carols}/messages/", json=body
        )
        assert status == 409, (who, refused)
        assert refused["message"] == f"this ticket was merged into #{again}; write there"
        assert refused["details"] == {"reason": "merged", "into": again}
    assert await rows(daemon, TicketMessage, TicketMessage.ticket_id == carols) == []
    # Its target takes them as ever.
    status, _ = await team.call(
        "carol", "POST", f"/api/tickets/{again}/messages/", json={"body": "Hi"}
    )
    assert status == 201


async def test_undoing_a_merge_into_a_hidden_ticket_names_no_ticket_but_its_own(team: Team):
    source = await team.open_ticket("carol", "Seen")
    target = await team.open_ticket("carol", "Hidden")
    status, _ = await team.call(
        "admin", "POST", f"/api/tickets/{source}/merge/", json={"into": target}
    )
    assert status == 200
    # The target goes to agent1: agent2 (default queue: unassigned tickets) sees the
    # merged ticket but not where it went.
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{target}/assign/",
        json={"assigned_agent": team.id("agent1")},
    )
    assert status == 200
    assert (await team.call("agent2", "GET", f"/api/tickets/{source}/"))[0] == 200
    assert (await team.call("agent2", "GET", f"/api/tickets/{target}/"))[0] == 404
    status, refused = await team.call("agent2", "POST", f"/api/tickets/{source}/unmerge/")
    assert status == 404, refused
    assert refused["message"] == f"no ticket {source}"
    assert str(target) not in str(refused)


# -- presence ----------------------------------------------------------------------------------


async def _people(ws, count: int) -> list[dict]:
    """The next presence frame listing `count` people."""
    while True:
        frame = await until(ws, "presence")
        if len(frame["data"]["people"]) == count:
            return list(frame["data"]["people"])


async def test_presence_between_two_sockets(team: Team, live: Live):
    t = await team.open_ticket("carol", "Who is here")
    one = await live.connect("agent1", f"/ws/tickets/{t}/")
    two = await live.connect("agent2", f"/ws/tickets/{t}/")
    carol = await live.connect("carol", f"/ws/tickets/{t}/")
    await one.send_json({"type": "presence", "state": "viewing"})
    [seen] = await _people(two, 1)
    assert (seen["user_id"], seen["name"], seen["state"]) == (
        team.id("agent1"),
        "Agent1",
        "viewing",
    )
    await two.send_json({"type": "presence", "state": "replying"})
    people = await _people(one, 2)
    assert {(p["user_id"], p["state"]) for p in people} == {
        (team.id("agent1"), "viewing"),
        (team.id("agent2"), "replying"),
    }
    # A customer neither hears presence nor says it.
    await carol.send_json({"type": "presence", "state": "viewing"})
    error = await next_event(carol)
    assert error["type"] == "error" and error["error"] == "forbidden"
    await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", json={"body": "Hi"})
    assert (await next_event(carol))["type"] == "message_created"
    # A socket that closes leaves; one that says `left` too.
    await one.close()
    [left] = await _people(two, 1)
    assert left["user_id"] == team.id("agent2")
    await two.send_json({"type": "presence", "state": "left"})
    assert await _people(two, 0) == []
    await two.send_json({"type": "presence", "state": "asleep"})
    assert (await until(two, "error"))["error"] == "invalid"
    for ws in (two, carol):
        await ws.close()


@pytest.fixture
async def replica(settings: Settings, daemon: Running) -> AsyncIterator[Running]:
    """A second replica beside `daemon` (PostgreSQL + Redis only), as tests/test_replicas.py."""
    if not settings.redis_url:
        pytest.skip("replicas share events through Redis (POSTDESK_TEST_BACKENDS=postgres)")
    second = dataclasses.replace(settings, http_port=free_port(), smtp_port=free_port())
    async with started(second) as running:
        yield running


async def test_presence_crosses_replicas(team: Team, live: Live, replica: Running):
    t = await team.open_ticket("carol", "Seen on both")
    other = f"ws://127.0.0.1:{replica.desk.settings.http_port}"
    here = await live.connect("agent1", f"/ws/tickets/{t}/")
    await here.send_json({"type": "presence", "state": "replying"})
    await _people(here, 1)
    # agent2 opens the ticket on the other replica: they learn who is there already.
    there = await live.connect("agent2", f"/ws/tickets/{t}/", base=other)
    await there.send_json({"type": "presence", "state": "viewing"})
    people = await _people(there, 2)
    assert {p["user_id"]: p["state"] for p in people} == {
        team.id("agent1"): "replying",
        team.id("agent2"): "viewing",
    }
    await _people(here, 2)
    await there.close()
    [alone] = await _people(here, 1)
    assert alone["user_id"] == team.id("agent1")
    await here.close()


# -- notifications ------------------------------------------------------------------------------


async def _bell(team: Team, who: str, query: str = "") -> list[dict]:
    status, page = await team.call(who, "GET", f"/api/notifications/{query}")
    assert status == 200, page
    return list(page["results"])


async def test_notifications_list_and_read(team: Team, live: Live, daemon: Running):
    bell = await live.connect("agent1", "/ws/notifications/", query="bell=1")
    t = await team.open_ticket("carol", "Bell")
    await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    frame = await until(bell, "notification.added")
    assert frame["data"]["notification"]["kind"] == "assigned"
    await team.call("carol", "POST", f"/api/tickets/{t}/messages/", json={"body": "Hurry"})
    frame = await until(bell, "notification.added")
    assert frame["data"]["notification"]["kind"] == "customer_replied"
    # A mention in chat notifies the person named, if they are in the room.
    _, room = await team.call(
        "agent2",
        "POST",
        "/api/chat/rooms/",
        json={"name": "desk", "type": "group", "participant_ids": [team.id("agent1")]},
    )
    await team.call(
        "agent2",
        "POST",
        "/api/chat/messages/",
        json={"room": room["id"], "body": f"@agent1 see #{t}"},
    )
    frame = await until(bell, "notification.added")
    assert frame["data"]["notification"]["kind"] == "mentioned"
    assert frame["data"]["notification"]["room_id"] == room["id"]
    found = await wait_for(lambda: _bell(team, "agent1", "?unread=true"), what="three lines")
    assert [n["kind"] for n in found] == ["mentioned", "customer_replied", "assigned"]
    assert await _bell(team, "agent2") == []
    first = found[-1]["id"]
    assert (await team.call("agent2", "POST", f"/api/notifications/{first}/read/"))[0] == 404
    status, read = await team.call("agent1", "POST", f"/api/notifications/{first}/read/")
    assert status == 200 and read["is_read"]
    assert len(await _bell(team, "agent1", "?unread=true")) == 2
    status, marked = await team.call("agent1", "POST", "/api/notifications/read-all/")
    assert status == 200 and marked == {"marked": 2}
    assert await _bell(team, "agent1", "?unread=true") == []
    assert len(await _bell(team, "agent1")) == 3
    await bell.close()


async def test_new_unassigned_ticket_notifies_who_asked(team: Team, daemon: Running):
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(QueueMember)
            .where(QueueMember.user_id == team.id("agent2"))
            .values(notify_new_tickets=True)
        )
    t = await team.open_ticket("dave", "Fresh")
    found = await wait_for(lambda: _bell(team, "agent2"), what="a new-ticket line")
    assert [(n["kind"], n["ticket_id"]) for n in found] == [("new_ticket", t)]
    assert await _bell(team, "agent1") == []


async def test_a_new_ticket_does_not_notify_the_one_who_opened_it(team: Team, daemon: Running):
    """Both agents want new tickets; agent2 opens one: agent1 is told, agent2 is not (the
    lines of one event are written in one transaction, so agent1's line means agent2's
    would be there too)."""
    async with daemon.desk.db.writer() as session:
        await session.execute(update(QueueMember).values(notify_new_tickets=True))
    t = await team.open_ticket("agent2", "Opened by agent2")
    found = await wait_for(lambda: _bell(team, "agent1"), what="agent1's new-ticket line")
    assert [(n["kind"], n["ticket_id"]) for n in found] == [("new_ticket", t)]
    assert await _bell(team, "agent2") == []
