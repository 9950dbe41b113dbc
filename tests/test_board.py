"""The kanban board over the HTTP API and real sockets: default columns, card moves by drag
order (one row written per move, the column laid out again only when a gap runs out),
columns standing for statuses (a move goes through the workflow; a status change moves the
card), columns made, moved and deleted, the board as each caller may see it, and two people
watching the same board live."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from desk.board.placement import GAP
from desk.db import alembic_config
from tests.people import PASSWORD, Team
from tests.sockets import Live, closed_with, next_event, until

STATUS_COLUMNS = [
    ("Open", "OPEN"),
    ("Assigned", "ASSIGNED"),
    ("In progress", "IN_PROGRESS"),
    ("Waiting on customer", "WAITING_ON_CUSTOMER"),
    ("Resolved", "RESOLVED"),
    ("Closed", "CLOSED"),
]


async def _queue(team: Team, name: str = "Sales", visibility: str = "team") -> int:
    """A queue with agent1 as a user and agent2 as its admin."""
    code, queue = await team.call(
        "admin", "POST", "/api/queues/", json={"name": name, "visibility": visibility}
    )
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


async def _board(team: Team, who: str, queue: int) -> dict[str, Any]:
    code, board = await team.call(who, "GET", f"/api/queues/{queue}/board/")
    assert code == 200, board
    return dict(board)


def _cards(board: dict[str, Any]) -> dict[str, list[int]]:
    return {c["name"]: [card["id"] for card in c["cards"]] for c in board["columns"]}


def _ranks(board: dict[str, Any], column: str) -> dict[int, int]:
    [col] = [c for c in board["columns"] if c["name"] == column]
    return {card["id"]: card["rank"] for card in col["cards"]}


def _column(board: dict[str, Any], name: str) -> int:
    return int(next(c["id"] for c in board["columns"] if c["name"] == name))


async def _open(team: Team, queue: int, subject: str) -> int:
    return await team.open_ticket("admin", subject, customer_email="carol@example.com", queue=queue)


async def _move(team: Team, who: str, ticket: int, **body: Any) -> tuple[int, Any]:
    return await team.call(who, "POST", f"/api/tickets/{ticket}/move/", json=body)


async def test_every_queue_starts_with_a_column_per_status(team: Team):
    default = await _board(team, "admin", 1)  # the migrated default queue
    sales = await _queue(team)
    made = await _board(team, "agent1", sales)
    for board in (default, made):
        got = [(c["name"], c["status"]) for c in board["columns"]]
        assert got == STATUS_COLUMNS
        assert [c["position"] for c in board["columns"]] == list(range(6))
    code, listed = await team.call("agent1", "GET", f"/api/tickets/columns/?project={sales}")
    assert code == 200
    assert [(c["name"], c["status"], c["queue"]) for c in listed["results"]] == [
        (name, status, sales) for name, status in STATUS_COLUMNS
    ]
    code, _ = await team.call("agent1", "GET", "/api/tickets/columns/")
    assert code == 400
    ticket = await _open(team, sales, "New one")
    board = await _board(team, "agent1", sales)
    assert _cards(board)["Open"] == [ticket]
    [card] = board["columns"][0]["cards"]
    assert card["column"] == card["column_id"] == board["columns"][0]["id"]
    assert (card["title"], card["status"], card["position"], card["rank"]) == (
        "New one",
        "OPEN",
        0,
        None,
    )
    assert board["columns"][0]["card_count"] == 1


async def test_a_move_writes_one_rank_between_neighbours_until_the_gap_runs_out(team: Team):
    sales = await _queue(team)
    code, backlog = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "Backlog"}
    )
    assert code == 201 and backlog["status"] is None and backlog["position"] == 6
    a, b, c = [await _open(team, sales, s) for s in ("a", "b", "c")]
    for t in (a, b, c):
        code, moved = await _move(team, "agent1", t, column=backlog["id"])
        assert code == 200, moved
        assert moved["card"]["column_id"] == backlog["id"] and moved["status"] == "OPEN"
    board = await _board(team, "agent1", sales)
    assert _ranks(board, "Backlog") == {a: GAP, b: 2 * GAP, c: 3 * GAP}
    # Alternately drop c and b right after a: each move halves the gap after a and
    # writes only the moved card's rank, until a and its neighbour are 1 apart.
    mover, other = c, b
    low, high = GAP, 2 * GAP
    for _ in range(10):
        before = _ranks(await _board(team, "agent1", sales), "Backlog")
        code, moved = await _move(team, "agent1", mover, column=backlog["id"], after=a)
        assert code == 200, moved
        high = (low + high) // 2 if mover == b else (low + before[other]) // 2
        after = _ranks(await _board(team, "agent1", sales), "Backlog")
        assert after[mover] == moved["card"]["rank"] == (low + before[other]) // 2
        assert {k: v for k, v in after.items() if k != mover} == {
            k: v for k, v in before.items() if k != mover
        }
        assert moved["card"]["position"] == 1
        mover, other = other, mover
    board = await _board(team, "agent1", sales)
    assert _cards(board)["Backlog"] == [a, other, mover]
    assert _ranks(board, "Backlog")[other] == GAP + 1  # no room left after a
    code, moved = await _move(team, "agent1", mover, column=backlog["id"], position=1)
    assert code == 200
    board = await _board(team, "agent1", sales)
    # Laid out again, GAP apart, then the card dropped between a and its neighbour.
    assert _cards(board)["Backlog"] == [a, mover, other]
    assert _ranks(board, "Backlog") == {a: GAP, mover: GAP + GAP // 2, other: 2 * GAP}
    # To the top, by index, and before a neighbour.
    code, moved = await _move(team, "agent1", other, column=backlog["id"], position=0)
    assert moved["card"] == {
        "column_id": backlog["id"],
        "column": backlog["id"],
        "rank": 0,
        "position": 0,
    }
    code, moved = await _move(team, "agent1", a, column=backlog["id"], before=other)
    assert _cards(await _board(team, "agent1", sales))["Backlog"] == [a, other, mover]
    # A neighbour not in that column, or two ways of saying where: 400.
    code, refused = await _move(team, "agent1", a, column=backlog["id"], before=999)
    assert code == 400 and refused["details"]["field"] == "before"
    code, refused = await _move(team, "agent1", a, column=backlog["id"], before=b, position=0)
    assert code == 400


async def test_a_status_column_moves_through_the_workflow_and_follows_status_changes(
    team: Team,
):
    sales = await _queue(team)
    board = await _board(team, "agent1", sales)
    cols = {name: _column(board, name) for name, _ in STATUS_COLUMNS}
    t = await _open(team, sales, "Printer")
    # Unassigned to Assigned: the workflow refuses (409), and nothing moves.
    code, refused = await _move(team, "agent1", t, column=cols["Assigned"])
    assert code == 409 and refused["details"]["field"] == "status", refused
    assert _cards(await _board(team, "agent1", sales))["Open"] == [t]
    # To In progress: the agent takes it (the workflow's rule for IN_PROGRESS).
    code, moved = await _move(team, "agent1", t, column=cols["In progress"], position=0)
    assert code == 200, moved
    assert (moved["status"], moved["assigned_agent_id"]) == ("IN_PROGRESS", team.id("agent1"))
    assert moved["card"]["column_id"] == cols["In progress"]
    # A status set elsewhere puts the card in that status's column.
    code, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "RESOLVED"}
    )
    assert code == 200
    board = await _board(team, "agent1", sales)
    assert _cards(board)["Resolved"] == [t] and _cards(board)["In progress"] == []
    assert _ranks(board, "Resolved")[t] is not None
    # Reopening an assigned ticket would give ASSIGNED, not the column's OPEN: refused with
    # the reason, and the card stays where it was (it never lands in another column).
    code, refused = await _move(team, "agent1", t, column=cols["Open"])
    assert code == 409, refused
    assert refused["details"]["lands_on"] == "ASSIGNED" and "OPEN" in refused["message"]
    board = await _board(team, "agent1", sales)
    assert _cards(board)["Resolved"] == [t] and _cards(board)["Assigned"] == []
    # Reopened by its status, the card follows where the workflow put it.
    code, reopened = await team.call(
        "agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "OPEN"}
    )
    assert code == 200 and reopened["status"] == "ASSIGNED"
    assert _cards(await _board(team, "agent1", sales))["Assigned"] == [t]
    # A card in a column with no status stays there when no column stands for the new one.
    code, parked = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "Parked"}
    )
    code, _ = await team.call(
        "agent2",
        "PATCH",
        f"/api/queues/{sales}/columns/{cols['Waiting on customer']}/",
        json={"status": None},
    )
    assert code == 200
    await _move(team, "agent1", t, column=parked["id"])
    await team.call(
        "agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "WAITING_ON_CUSTOMER"}
    )
    assert _cards(await _board(team, "agent1", sales))["Parked"] == [t]
    await team.call("agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "CLOSED"})
    assert _cards(await _board(team, "agent1", sales))["Closed"] == [t]
    # Customers move nothing; a column of another queue is not on this ticket's board.
    code, _ = await _move(team, "carol", t, column=cols["Open"])
    assert code == 403
    other = await _board(team, "admin", 1)
    code, refused = await _move(team, "agent1", t, column=other["columns"][0]["id"])
    assert code == 400 and refused["details"]["field"] == "column"


async def test_columns_are_made_reordered_and_deleted_with_their_cards_sent_home(team: Team):
    sales = await _queue(team)
    t = await _open(team, sales, "Printer")
    code, triage = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "Triage", "position": 0}
    )
    assert code == 201 and triage["position"] == 0
    board = await _board(team, "agent1", sales)
    assert [c["name"] for c in board["columns"]][:2] == ["Triage", "Open"]
    assert [c["position"] for c in board["columns"]] == list(range(7))
    await _move(team, "agent1", t, column=triage["id"])
    code, changed = await team.call(
        "agent2",
        "PATCH",
        f"/api/queues/{sales}/columns/{triage['id']}/",
        json={"name": "Inbox", "position": 99},
    )
    assert code == 200 and (changed["name"], changed["position"]) == ("Inbox", 6)
    assert _cards(await _board(team, "agent1", sales))["Inbox"] == [t]
    # Deleted: its cards go back to the column of their status.
    code, _ = await team.call("agent2", "DELETE", f"/api/queues/{sales}/columns/{triage['id']}/")
    assert code == 204
    board = await _board(team, "agent1", sales)
    assert _cards(board)["Open"] == [t] and "Inbox" not in _cards(board)
    assert [c["position"] for c in board["columns"]] == list(range(6))
    code, _ = await team.call("agent2", "DELETE", f"/api/queues/{sales}/columns/{triage['id']}/")
    assert code == 404
    # The only column of a status stays (409, with the reason): its cards would show, and
    # land, in another status's column.
    cols = {c["name"]: c["id"] for c in board["columns"]}
    code, refused = await team.call(
        "agent2", "DELETE", f"/api/queues/{sales}/columns/{cols['Open']}/"
    )
    assert code == 409 and refused["details"]["column_status"] == "OPEN", refused
    assert "only one" in refused["message"]
    # With another column for OPEN it may go; its cards show in the other.
    code, second = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "New", "status": "OPEN"}
    )
    assert code == 201
    code, _ = await team.call("agent2", "DELETE", f"/api/queues/{sales}/columns/{cols['Open']}/")
    assert code == 204
    assert _cards(await _board(team, "agent1", sales))["New"] == [t]
    # Unmapped on purpose, OPEN has no column and no column stands for none: the card shows
    # in the board's own "Other" (id null), never in a column of another status, and a
    # drop where the workflow refuses is a 409 with the reason.
    code, _ = await team.call(
        "agent2", "PATCH", f"/api/queues/{sales}/columns/{second['id']}/", json={"status": "CLOSED"}
    )
    assert code == 200
    board = await _board(team, "agent1", sales)
    assert _cards(board)["New"] == [] and _cards(board)["Other"] == [t]
    assert (board["columns"][-1]["id"], board["columns"][-1]["card_count"]) == (None, 1)
    code, refused = await _move(team, "agent1", t, column=cols["Assigned"])
    assert code == 409 and refused["details"]["field"] == "status", refused
    assert _cards(await _board(team, "agent1", sales))["Other"] == [t]
    # The last column stays.
    for column in (await _board(team, "agent1", sales))["columns"][:-2]:
        await team.call(
            "agent2", "PATCH", f"/api/queues/{sales}/columns/{column['id']}/", json={"status": None}
        )
        code, _ = await team.call(
            "agent2", "DELETE", f"/api/queues/{sales}/columns/{column['id']}/"
        )
        assert code == 204
    code, refused = await team.call(
        "agent2", "DELETE", f"/api/queues/{sales}/columns/{second['id']}/"
    )
    assert code == 409, refused
    # A column of no status (the mapping gone) takes every status no column stands for.
    await team.call(
        "agent2", "PATCH", f"/api/queues/{sales}/columns/{second['id']}/", json={"status": None}
    )
    await team.call("admin", "POST", f"/api/tickets/{t}/set-status/", json={"status": "CLOSED"})
    assert _cards(await _board(team, "agent1", sales)) == {"New": [t]}
    code, _ = await team.call(
        "agent1", "POST", f"/api/queues/{sales}/columns/", json={"name": "Mine"}
    )
    assert code == 403  # columns are the queue admins'


async def test_the_board_shows_each_caller_what_they_may_see(team: Team):
    """In an `assigned` queue a member sees unassigned cards and their own; an agent of
    no other queue sees only a card they hold."""
    sales = await _queue(team, visibility="assigned")
    free, mine, theirs = [await _open(team, sales, s) for s in ("free", "mine", "theirs")]
    for t, who in ((mine, "agent1"), (theirs, "agent2")):
        code, _ = await team.call(
            "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id(who)}
        )
        assert code == 200
    assert _cards(await _board(team, "agent1", sales))["Open"] == [free]
    assert _cards(await _board(team, "agent1", sales))["Assigned"] == [mine]
    assert _cards(await _board(team, "admin", sales))["Assigned"] == [mine, theirs]
    # Dropping by index counts the cards the caller sees.
    board = await _board(team, "agent2", sales)
    assigned = _column(board, "Assigned")
    code, moved = await _move(team, "agent2", theirs, column=assigned, position=0)
    assert moved["card"]["position"] == 0  # the top of what agent2 sees: the end
    assert _cards(await _board(team, "admin", sales))["Assigned"] == [mine, theirs]
    code, moved = await _move(team, "admin", theirs, column=assigned, position=0)
    assert _cards(await _board(team, "admin", sales))["Assigned"] == [theirs, mine]
    code, refused = await _move(team, "agent2", theirs, column=assigned, before=mine)
    assert refused["details"]["field"] == "before"
    assert code == 400  # a card agent2 does not see is no neighbour
    code, _ = await team.call("carol", "GET", f"/api/queues/{sales}/board/")
    assert code == 403
    # Another team's board and members are not an agent's business (404); the queue itself
    # stays readable by staff (docs/design.md, Queues).
    code, _ = await team.call("agent1", "DELETE", f"/api/queues/1/members/{team.id('agent1')}/")
    for path in ("/api/queues/1/board/", "/api/queues/1/members/"):
        code, _ = await team.call("agent1", "GET", path)
        assert code == 404, path
    code, _ = await team.call("agent1", "GET", "/api/queues/1/")
    assert code == 200
    code, _ = await team.call("agent1", "GET", "/api/queues/999/board/")
    assert code == 404


async def test_two_people_see_the_same_board_live(team: Team, live: Live):
    sales = await _queue(team)
    board = await _board(team, "agent1", sales)
    cols = {name: _column(board, name) for name, _ in STATUS_COLUMNS}
    t = await _open(team, sales, "Printer")
    mover = await live.connect("agent1", f"/ws/queues/{sales}/board/")
    watcher = await live.connect("agent2", f"/ws/projects/{sales}/tickets/")  # S0's path
    code, moved = await _move(team, "agent1", t, column=cols["In progress"])
    assert code == 200
    seen = []
    for ws in (mover, watcher):
        frame = await until(ws, "card_moved")
        assert frame["ticket"]["status"] == "IN_PROGRESS"
        seen.append((frame["ticket_id"], frame["column_id"], frame["rank"], frame["queue_id"]))
    assert seen[0] == seen[1] == (t, cols["In progress"], moved["card"]["rank"], sales)
    # A column made shows on both, with the board's columns after it.
    code, made = await team.call(
        "agent2", "POST", f"/api/queues/{sales}/columns/", json={"name": "QA", "position": 3}
    )
    for ws in (mover, watcher):
        frame = await until(ws, "column_created")
        assert frame["column"]["id"] == made["id"]
        assert [c["name"] for c in frame["columns"]][2:5] == [
            "In progress",
            "QA",
            "Waiting on customer",
        ]
    # A new ticket's card, and a status change elsewhere, reach the board too.
    u = await _open(team, sales, "Scanner")
    assert (await until(watcher, "ticket_created"))["ticket"]["id"] == u
    await team.call("agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": "RESOLVED"})
    frame = await until(watcher, "card_moved")
    assert (frame["ticket_id"], frame["column_id"]) == (t, cols["Resolved"])
    for ws in (mover, watcher):
        await ws.close()


async def test_board_sockets_keep_to_the_queue_and_to_what_the_reader_may_see(
    team: Team, live: Live
):
    sales = await _queue(team, visibility="assigned")
    board = await _board(team, "admin", sales)
    opened = _column(board, "Open")
    hidden = await _open(team, sales, "theirs")
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{hidden}/assign/",
        json={"assigned_agent": team.id("agent2")},
    )
    assert code == 200
    shown = await _open(team, sales, "free")
    watcher = await live.connect("agent1", f"/ws/queues/{sales}/board/")
    elsewhere = await live.connect("agent1", "/ws/queues/1/board/")
    # agent2's card moves first, then a free one: agent1 hears only the free one.
    await _move(team, "agent2", hidden, column=_column(board, "Assigned"), position=0)
    await _move(team, "admin", shown, column=opened, position=0)
    # The first card move heard is the free one's (frames keep their order, so agent2's would
    # come first); a `ticket_created` published before the socket opened may still arrive
    # over Redis, and is skipped.
    frame = await until(watcher, "card_moved")
    assert frame["ticket_id"] == shown
    # The default queue's board heard nothing of Sales: its next frame is its own.
    own = await _open(team, 1, "in the default queue")
    assert (await next_event(elsewhere))["ticket"]["id"] == own
    # Customers and unknown queues are refused.
    team.tokens.setdefault("carol", await team.api.token("carol@example.com", PASSWORD))
    customer = await live.connect("carol", f"/ws/queues/{sales}/board/", ready=False)
    assert await closed_with(customer) == 4403
    nowhere = await live.connect("agent1", "/ws/queues/999/board/", ready=False)
    assert await closed_with(nowhere) == 4404
    # Another team's board is not there for an agent who is no member (as GET: 404).
    code, billing = await team.call("admin", "POST", "/api/queues/", json={"name": "Billing"})
    assert code == 201
    outsider = await live.connect("agent1", f"/ws/queues/{billing['id']}/board/", ready=False)
    assert await closed_with(outsider) == 4404
    for ws in (watcher, elsewhere):
        await ws.close()


def _migrate(connection: Any, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.mark.empty_database
async def test_migration_gives_every_queue_its_columns_and_takes_them_away(database_url, tmp_path):
    """Queues from before 0020 (the default one and another) get the default columns, no
    card is placed; the downgrade drops both tables again."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0019")
            await conn.execute(
                sa.text(
                    "INSERT INTO queues (name, visibility, is_default, created_at) "
                    "VALUES ('Sales', 'team', :no, CURRENT_TIMESTAMP)"
                ).bindparams(no=False)
            )
            await conn.run_sync(_migrate, "0020")
            found = await conn.execute(
                sa.text(
                    "SELECT q.name, c.name, c.status, c.position FROM board_columns c "
                    "JOIN queues q ON q.id = c.queue_id ORDER BY q.id, c.position"
                )
            )
            by_queue: dict[str, list[tuple[str, str]]] = {}
            for queue, name, status, _ in found:
                by_queue.setdefault(queue, []).append((name, status))
            assert by_queue == {"Support": STATUS_COLUMNS, "Sales": STATUS_COLUMNS}
            placed = await conn.scalar(sa.text("SELECT count(*) FROM ticket_positions"))
            assert placed == 0
            await conn.run_sync(_migrate, "0019", down=True)
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert not {"board_columns", "ticket_positions"} & set(tables)
    finally:
        await engine.dispose()
