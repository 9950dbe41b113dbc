"""S0's `Ticket.column` (rows S0-19 and S0-25 of docs/seed-conformance.md): the ticket JSON
says which board column its card is in, and `GET /api/tickets/?column=<id>` lists the cards
of a column. The board (`GET /api/queues/<id>/board/`) is the oracle: whatever happens to
cards and columns, the tickets say what the board shows, to each caller what they may see,
in the same number of statements whatever the page size."""

from __future__ import annotations

from typing import Any

from tests.people import Team


async def _queue(team: Team) -> int:
    """A queue with agent1 as a user and agent2 as its admin."""
    code, queue = await team.call("admin", "POST", "/api/queues/", json={"name": "Sales"})
    assert code == 201, queue
    for who, role in (("agent1", "user"), ("agent2", "admin")):
        code, _ = await team.call(
            "admin",
            "POST",
            f"/api/queues/{queue['id']}/members/",
            json={"user_id": team.id(who), "role": role},
        )
        assert code == 201
    return int(queue["id"])


async def _open(team: Team, queue: int, subject: str) -> int:
    return await team.open_ticket("admin", subject, customer_email="carol@example.com", queue=queue)


async def _get(team: Team, who: str, path: str) -> Any:
    code, body = await team.call(who, "GET", path)
    assert code == 200, (path, body)
    return body


async def _on_board(team: Team, who: str, queue: int) -> dict[int, int | None]:
    """Each card on the board as `who` sees it: ticket id -> column id (None: `Other`)."""
    board = await _get(team, who, f"/api/queues/{queue}/board/")
    return {card["id"]: column["id"] for column in board["columns"] for card in column["cards"]}


async def _listed(team: Team, who: str, query: str) -> dict[int, Any]:
    found = await _get(team, who, f"/api/tickets/?page_size=200&{query}")
    assert found["count"] == len(found["results"])
    return {t["id"]: t.get("column", "absent") for t in found["results"]}


async def _tickets_say_what_the_board_shows(team: Team, who: str, queue: int) -> None:
    """The list, each ticket's detail and each column's filter agree with the board."""
    board = await _on_board(team, who, queue)
    assert await _listed(team, who, f"queue={queue}") == board
    for ticket, column in board.items():
        detail = await _get(team, who, f"/api/tickets/{ticket}/")
        assert detail["column"] == detail["column_id"] == column
    for column in {c for c in board.values() if c is not None}:
        in_column = {t: column for t, c in board.items() if c == column}
        assert await _listed(team, who, f"column={column}") == in_column


async def test_tickets_carry_their_card_column_as_the_board_shows_it(team: Team):
    sales = await _queue(team)
    board = await _get(team, "agent2", f"/api/queues/{sales}/board/")
    cols = {c["name"]: c["id"] for c in board["columns"]}
    code, backlog = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "Backlog"}
    )
    assert code == 201
    new, parked, worked, done = [await _open(team, sales, s) for s in ("a", "b", "c", "d")]
    # Never placed (its status's column), put in a column of no status, moved through the
    # workflow, and finished then archived (off the board).
    for ticket, column in ((parked, backlog["id"]), (worked, cols["In progress"])):
        code, moved = await team.call(
            "agent1", "POST", f"/api/tickets/{ticket}/move/", json={"column": column}
        )
        assert code == 200 and moved["column"] == moved["card"]["column"] == column, moved
    code, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{done}/set-status/", json={"status": "RESOLVED"}
    )
    assert code == 200
    assert (await _get(team, "agent1", f"/api/tickets/{done}/"))["column"] == cols["Resolved"]
    code, _ = await team.call("agent1", "POST", f"/api/tickets/{done}/archive/")
    assert code == 200
    assert await _on_board(team, "agent1", sales) == {
        new: cols["Open"],
        parked: backlog["id"],
        worked: cols["In progress"],
    }
    await _tickets_say_what_the_board_shows(team, "agent1", sales)
    archived = await _listed(team, "agent1", f"queue={sales}&archived=true")
    assert archived == {done: None}
    # The parked card's column comes to stand for another status: the card is back in its
    # status's column. Then no column stands for OPEN nor for none: the board's `Other`.
    for column, status in ((backlog["id"], "CLOSED"), (cols["Open"], "CLOSED")):
        code, _ = await team.call(
            "agent2", "PATCH", f"/api/queues/{sales}/columns/{column}/", json={"status": status}
        )
        assert code == 200
        await _tickets_say_what_the_board_shows(team, "agent1", sales)
    assert await _on_board(team, "agent1", sales) == {
        new: None,
        parked: None,
        worked: cols["In progress"],
    }
    assert await _listed(team, "agent1", f"column={cols['Open']}") == {}
    # A ticket moved to another queue has its card on that queue's board.
    code, _ = await team.call("admin", "POST", f"/api/tickets/{worked}/move/", json={"queue": 1})
    assert code == 200
    await _tickets_say_what_the_board_shows(team, "admin", 1)
    await _tickets_say_what_the_board_shows(team, "admin", sales)


async def test_the_column_filter_keeps_to_what_the_caller_may_see(team: Team):
    sales = await _queue(team)
    ticket = await _open(team, sales, "Sales question")
    mailed = await team.open_ticket("carol", "In the default queue")
    open_in_sales = (await _get(team, "agent1", f"/api/tickets/{ticket}/"))["column"]
    open_in_default = (await _get(team, "admin", f"/api/tickets/{mailed}/"))["column"]
    assert open_in_sales != open_in_default
    # agent1 leaves the default queue: its columns match nothing for them, as `?queue=1`.
    code, _ = await team.call("admin", "DELETE", f"/api/queues/1/members/{team.id('agent1')}/")
    assert code == 204
    assert await _listed(team, "agent1", f"column={open_in_default}") == {}
    assert await _listed(team, "agent1", "queue=1") == {}
    assert await _listed(team, "admin", f"column={open_in_default}") == {mailed: open_in_default}
    assert await _listed(team, "agent1", f"column={open_in_sales}") == {ticket: open_in_sales}
    # The board is the team's: customers get no `column` and their filter matches nothing.
    assert await _listed(team, "carol", "") == {ticket: "absent", mailed: "absent"}
    assert "column" not in await _get(team, "carol", f"/api/tickets/{mailed}/")
    assert await _listed(team, "carol", f"column={open_in_default}") == {}
    # An unknown column matches nothing; a malformed one names the field.
    assert await _listed(team, "admin", "column=999999") == {}
    code, refused = await team.call("admin", "GET", "/api/tickets/?column=open")
    assert code == 400 and "column" in refused["details"]["fields"], refused
    # Search and the CSV export take the list's filters.
    found = await _get(team, "admin", f"/api/tickets/search/?q=question&column={open_in_sales}")
    assert [(t["id"], t["column"]) for t in found["results"]] == [(ticket, open_in_sales)]
    found = await _get(team, "admin", f"/api/tickets/search/?q=question&column={open_in_default}")
    assert found["results"] == []


async def test_a_page_with_columns_costs_the_same_statements_whatever_its_size(
    team: Team, read_statements: list[str]
):
    """No N+1: each ticket's column is read in the page's own statement."""
    sales = await _queue(team)
    board = await _get(team, "agent2", f"/api/queues/{sales}/board/")
    first = board["columns"][0]["id"]  # Open: every card below is in it
    tickets = [await _open(team, sales, f"t{i}") for i in range(6)]
    for ticket in tickets[:3]:  # placed; the others sit there unplaced
        code, _ = await team.call(
            "agent1", "POST", f"/api/tickets/{ticket}/move/", json={"column": first}
        )
        assert code == 200
    costs = {}
    for size in (1, 6):
        for query in (f"queue={sales}", f"column={first}"):
            read_statements.clear()
            found = await _get(team, "agent1", f"/api/tickets/?page_size={size}&{query}")
            assert len(found["results"]) == min(size, found["count"]) and found["count"] > 1
            assert all(t["column"] == first for t in found["results"])
            # Statements on tickets (a settings refresh may come with any request).
            costs[size, query] = len([s for s in read_statements if "tickets" in s])
    assert costs[1, f"queue={sales}"] == costs[6, f"queue={sales}"]
    assert costs[1, f"column={first}"] == costs[6, f"column={first}"]
