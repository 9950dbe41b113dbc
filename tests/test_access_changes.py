"""Open WebSockets follow access as it changes, not as it was at connect: removed from a
queue, demoted to customer, or a queue turned from `team` to `assigned`, a person's ticket
and board sockets close (4403/4404) and their inbox and notification sockets stop carrying
what they may no longer see, at once and on every replica (the change travels on the bus
as AccessChanged, as AccessRevoked does)."""

from __future__ import annotations

from typing import Any

import aiohttp

from daemon.lifecycle import Running
from tests.people import Team
from tests.sockets import Live, next_event
from tests.test_queues import _sales
from tests.test_socket_revocation import replica  # noqa: F401  (a fixture)


async def _sales_ticket(team: Team, subject: str, sales: int) -> int:
    return await team.open_ticket("admin", subject, customer_email="dave@other.org", queue=sales)


async def _note(team: Team, ticket: int) -> None:
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "Internal: the price is 40% off", "is_internal": True},
    )
    assert code == 201


async def _wants_new(team: Team, sales: int, who: str) -> None:
    path = f"/api/queues/{sales}/members/{team.id(who)}/"
    code, _ = await team.call(who, "PATCH", path, json={"notify_new_tickets": True})
    assert code == 200


async def _first_ticket(ws: aiohttp.ClientWebSocketResponse) -> int:
    """The ticket of the next ticket frame (frames without one are skipped)."""
    while (event := await next_event(ws)).get("ticket_id") is None:
        pass
    return int(event["ticket_id"])


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> int:
    """The close code, past frames of changes made before the access change (over Redis a
    ticket_created may arrive after the socket opened; nothing changes in between)."""
    while (message := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
        pass
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return int(message.data if message.type == aiohttp.WSMsgType.CLOSE else ws.close_code or 0)


async def _sockets(live: Live, who: str, ticket: int, sales: int) -> dict[str, Any]:
    return {
        "ticket": await live.connect(who, f"/ws/tickets/{ticket}/"),
        "board": await live.connect(who, f"/ws/queues/{sales}/board/"),
        "alias": await live.connect(who, f"/ws/projects/{sales}/tickets/"),
        "inbox": await live.connect(who, "/ws/inbox/"),
        "bell": await live.connect(who, "/ws/notifications/"),
    }


async def test_removed_from_a_queue_its_sockets_close_and_the_rest_go_quiet(
    team: Team, live: Live, daemon: Running, make_user: Any
):
    sales = await _sales(team, daemon, make_user)
    await _wants_new(team, sales, "agent2")
    ticket = await _sales_ticket(team, "Quote", sales)
    ws = await _sockets(live, "agent2", ticket, sales)
    code, _ = await team.call(
        "admin", "DELETE", f"/api/queues/{sales}/members/{team.id('agent2')}/"
    )
    assert code == 204
    assert await _closed(ws["ticket"]) == 4403
    assert await _closed(ws["board"]) == 4404
    assert await _closed(ws["alias"]) == 4404
    # Sales' news no longer reaches agent2: a new ticket, a note. Then one of theirs does.
    await _sales_ticket(team, "Another quote", sales)
    await _note(team, ticket)
    mine = await team.open_ticket("carol", "For agent2")
    code, _ = await team.call(
        "admin", "POST", f"/api/tickets/{mine}/assign/", json={"assigned_agent": team.id("agent2")}
    )
    assert code == 200
    assert await _first_ticket(ws["inbox"]) == mine
    assert await _first_ticket(ws["bell"]) == mine


async def test_demoted_to_customer_their_staff_sockets_close(
    team: Team, live: Live, daemon: Running, make_user: Any
):
    sales = await _sales(team, daemon, make_user)
    await _wants_new(team, sales, "agent2")
    ticket = await _sales_ticket(team, "Quote", sales)
    ws = await _sockets(live, "agent2", ticket, sales)
    path = f"/api/admin/users/{team.id('agent2')}/"
    code, _ = await team.call("admin", "PATCH", path, json={"role": "customer"})
    assert code == 200
    assert await _closed(ws["ticket"]) == 4403
    assert await _closed(ws["board"]) == 4403
    assert await _closed(ws["alias"]) == 4403
    await _sales_ticket(team, "Another quote", sales)
    await _note(team, ticket)
    own = await team.open_ticket("agent2", "Now a customer")  # their own, as a customer
    assert await _first_ticket(ws["inbox"]) == own
    assert await _first_ticket(ws["bell"]) == own


async def test_a_queue_turned_to_assigned_hides_others_tickets_at_once(
    team: Team, live: Live, daemon: Running, make_user: Any
):
    sales = await _sales(team, daemon, make_user)
    held = await _sales_ticket(team, "Lead's", sales)
    code, _ = await team.call(
        "admin", "POST", f"/api/tickets/{held}/assign/", json={"assigned_agent": team.id("lead")}
    )
    assert code == 200
    ws = await _sockets(live, "agent2", held, sales)
    code, _ = await team.call(
        "admin", "PATCH", f"/api/queues/{sales}/", json={"visibility": "assigned"}
    )
    assert code == 200
    assert await _closed(ws["ticket"]) == 4403
    # Lead's ticket changes and gets a note; then a new unassigned ticket, which agent2 sees.
    code, _ = await team.call(
        "lead", "PATCH", f"/api/tickets/{held}/", json={"subject": "Lead's, v2"}
    )
    assert code == 200
    await _note(team, held)
    fresh = await _sales_ticket(team, "Unassigned", sales)
    for name in ("board", "alias", "inbox"):
        assert await _first_ticket(ws[name]) == fresh, name


async def test_a_deleted_queue_closes_its_boards(
    team: Team, live: Live, daemon: Running, make_user: Any
):
    sales = await _sales(team, daemon, make_user)
    board = await live.connect("agent2", f"/ws/queues/{sales}/board/")
    assert (await team.call("admin", "DELETE", f"/api/queues/{sales}/"))[0] == 204
    assert await _closed(board) == 4404


async def test_a_removal_on_one_replica_closes_the_socket_on_another(
    team: Team,
    live: Live,
    daemon: Running,
    make_user: Any,
    replica: Running,  # noqa: F811
):
    sales = await _sales(team, daemon, make_user)
    ticket = await _sales_ticket(team, "Quote", sales)
    base = f"ws://127.0.0.1:{replica.desk.settings.http_port}"
    ws = await live.connect("agent2", f"/ws/tickets/{ticket}/", base=base)
    board = await live.connect("agent2", f"/ws/queues/{sales}/board/", base=base)
    code, _ = await team.call(
        "admin", "DELETE", f"/api/queues/{sales}/members/{team.id('agent2')}/"
    )
    assert code == 204
    assert await _closed(ws) == 4403
    assert await _closed(board) == 4404


async def _assign(team: Team, ticket: int, who: str) -> None:
    path = f"/api/tickets/{ticket}/assign/"
    code, body = await team.call("admin", "POST", path, json={"assigned_agent": team.id(who)})
    assert code == 200, body


async def test_removed_from_a_queue_they_lose_the_tickets_they_held_there(
    team: Team, live: Live, daemon: Running, make_user: Any
):
    """The tickets a removed member holds in the queue are unassigned (history, events)
    and gone for them on REST and sockets, as docs/design.md's Access says."""
    sales = await _sales(team, daemon, make_user)
    held = await _sales_ticket(team, "Held by agent2", sales)
    await _assign(team, held, "agent2")
    ws = {
        "ticket": await live.connect("agent2", f"/ws/tickets/{held}/"),
        "inbox": await live.connect("agent2", "/ws/inbox/"),
    }
    path = f"/api/queues/{sales}/members/{team.id('agent2')}/"
    assert (await team.call("admin", "DELETE", path))[0] == 204
    assert await _closed(ws["ticket"]) == 4403
    code, body = await team.call("admin", "GET", f"/api/tickets/{held}/")
    assert code == 200 and body["assigned_agent_id"] is None and body["status"] == "OPEN"
    _, history = await team.call("admin", "GET", f"/api/tickets/{held}/history/")
    changes = [(h["field"], h["from"], h["to"]) for h in history["results"]]
    assert ("assigned_agent", str(team.id("agent2")), None) in changes
    for method, sub, payload in (
        ("GET", "", None),
        ("GET", "history/", None),
        ("POST", "messages/", {"body": "still mine?"}),
        ("POST", "set-status/", {"status": "RESOLVED"}),
    ):
        code, _ = await team.call("agent2", method, f"/api/tickets/{held}/{sub}", json=payload)
        assert code == 404, (method, sub, code)
    _, listed = await team.call("agent2", "GET", "/api/tickets/?page_size=200")
    assert held not in [t["id"] for t in listed["results"]]
    # A note on it does not reach agent2's inbox; a ticket of theirs then does.
    await _note(team, held)
    mine = await team.open_ticket("carol", "For agent2")
    await _assign(team, mine, "agent2")
    while (event := await next_event(ws["inbox"])).get("ticket_id") != mine:
        assert event["type"] != "message_created", event


async def test_a_finished_ticket_held_outside_ones_queues_is_not_seen(
    team: Team, daemon: Running, make_user: Any
):
    """Holding a ticket shows it only in one's own queues: a resolved ticket keeps its
    assignee when they leave the queue, and they no longer see it."""
    sales = await _sales(team, daemon, make_user)
    done = await _sales_ticket(team, "Done by agent2", sales)
    await _assign(team, done, "agent2")
    path = f"/api/tickets/{done}/set-status/"
    assert (await team.call("agent2", "POST", path, json={"status": "RESOLVED"}))[0] == 200
    path = f"/api/queues/{sales}/members/{team.id('agent2')}/"
    assert (await team.call("admin", "DELETE", path))[0] == 204
    code, body = await team.call("admin", "GET", f"/api/tickets/{done}/")
    assert code == 200 and body["assigned_agent_id"] == team.id("agent2")
    assert (await team.call("agent2", "GET", f"/api/tickets/{done}/"))[0] == 404
    _, listed = await team.call("agent2", "GET", "/api/tickets/?page_size=200")
    assert done not in [t["id"] for t in listed["results"]]


async def test_demoted_or_deactivated_staff_give_up_the_tickets_they_held(
    team: Team, daemon: Running, make_user: Any
):
    sales = await _sales(team, daemon, make_user)
    first = await _sales_ticket(team, "Held by agent2", sales)
    second = await _sales_ticket(team, "Held by lead", sales)
    await _assign(team, first, "agent2")
    await _assign(team, second, "lead")
    for who, change in (("agent2", {"role": "customer"}), ("lead", {"is_active": False})):
        path = f"/api/admin/users/{team.id(who)}/"
        assert (await team.call("admin", "PATCH", path, json=change))[0] == 200
    for ticket in (first, second):
        code, body = await team.call("admin", "GET", f"/api/tickets/{ticket}/")
        assert code == 200 and body["assigned_agent_id"] is None and body["status"] == "OPEN"
