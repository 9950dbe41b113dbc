"""Reading tickets as a person sees them: answers right after every kind of change, each
person their own, a shut-out caller shut out at once, a conversation read in the same few
statements however long it is, and the count shortcut's promise (exact below its
threshold, remembered above it)."""

from __future__ import annotations

import aiohttp

from desk.tickets.counts import CountCache
from desk.tickets.queries import TicketFilter, list_tickets
from tests.people import Team
from tests.support import make_mail, send, settled


async def subjects(team: Team, who: str) -> list[str]:
    status, body = await team.call(who, "GET", "/api/tickets/?ordering=created_at")
    assert status == 200, body
    return [t["subject"] for t in body["results"]]


async def test_every_kind_of_change_shows_at_the_next_request(team: Team, daemon):
    ticket = await team.open_ticket("carol", "Printer")
    assert await subjects(team, "agent1") == ["Printer"]
    status, _ = await team.call(
        "agent2",
        "PATCH",
        f"/api/tickets/{ticket}/",
        json={"subject": "Printer on fire", "tags": ["hot"]},
    )
    assert status == 200
    assert await subjects(team, "agent1") == ["Printer on fire"]
    status, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert detail["tags"] == ["hot"]
    # mail turned into a ticket by the intake, not through the API
    await send(daemon.smtp_port, make_mail(subject="By mail")[0])
    await settled(daemon, 1)
    assert await subjects(team, "agent1") == ["Printer on fire", "By mail"]
    # taken by another agent: no longer in agent1's view (assigned elsewhere)
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/assign/",
        json={"assigned_agent": team.id("agent2")},
    )
    assert status == 200
    assert await subjects(team, "agent1") == ["By mail"]
    status, _ = await team.call(
        "agent2",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "On it", "is_internal": False},
    )
    assert status == 201
    status, detail = await team.call("carol", "GET", f"/api/tickets/{ticket}/")
    assert [m["body"] for m in detail["messages"]][-1] == "On it"


async def test_same_url_different_people_different_answers(team: Team):
    await team.open_ticket("carol", "Carol's")
    await team.open_ticket("dave", "Dave's")
    assert await subjects(team, "carol") == ["Carol's"]
    assert await subjects(team, "dave") == ["Dave's"]
    assert await subjects(team, "carol") == ["Carol's"]
    assert await subjects(team, "admin") == ["Carol's", "Dave's"]


async def test_a_deactivated_agent_is_shut_out_at_the_next_request(team: Team):
    await team.open_ticket("carol", "Printer")
    assert await subjects(team, "agent1") == ["Printer"]
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('agent1')}/", json={"is_active": False}
    )
    assert status == 200
    assert (await team.call("agent1", "GET", "/api/tickets/?ordering=created_at"))[0] == 401
    assert await subjects(team, "agent2") == ["Printer"]


async def test_a_conversation_costs_the_same_statements_whatever_its_length(
    team: Team, read_statements
):
    """No N+1 in the detail: the ticket with its participants in one statement, the
    messages with their attachments in another."""
    short, long = await team.open_ticket("carol", "short"), await team.open_ticket("carol", "long")
    for i in range(6):
        status, _ = await team.call(
            "agent1", "POST", f"/api/tickets/{long}/messages/", json={"body": f"answer {i}"}
        )
        assert status == 201
    costs = {}
    for ticket, messages in ((short, 1), (long, 7)):
        read_statements.clear()
        status, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
        assert status == 200 and len(detail["messages"]) == messages
        costs[ticket] = len([s for s in read_statements if "ticket" in s])
    # the caller check, the ticket with its participants, the messages with their files
    assert costs[short] == costs[long] == 3


def _reply(body: str, files: list[tuple[str, bytes]], **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in {"body": body, **fields}.items():
        form.add_field(name, value)
    for filename, data in files:
        form.add_field("files", data, filename=filename, content_type="text/plain")
    return form


async def test_a_detail_lists_each_messages_files_under_it(team: Team, read_statements):
    """Messages and their files come in one statement (a row per file): each message lists
    its own files in order, one without files none, and a customer sees neither an internal
    note nor its file."""
    t = await team.open_ticket("carol", "Files")
    for sent in (
        {"data": _reply("two files", [("a.txt", b"first"), ("b.txt", b"second")])},
        {"json": {"body": "no file"}},
        {"data": _reply("a note", [("n.txt", b"internal")], is_internal="true")},
        {"data": _reply("one file", [("c.txt", b"third")])},
    ):
        status, body = await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", **sent)
        assert status == 201, body
    seen = {}
    for who in ("agent1", "carol"):
        read_statements.clear()
        status, detail = await team.call(who, "GET", f"/api/tickets/{t}/")
        assert status == 200 and len([s for s in read_statements if "ticket" in s]) == 3
        seen[who] = [
            (m["body"], [a["filename"] for a in m["attachments"]]) for m in detail["messages"]
        ]
    files = [("two files", ["a.txt", "b.txt"]), ("no file", []), ("one file", ["c.txt"])]
    assert seen["agent1"][1:] == [*files[:2], ("a note", ["n.txt"]), *files[2:]]
    assert seen["carol"][1:] == files


async def test_a_count_is_exact_below_the_threshold_and_remembered_above(team: Team, daemon):
    db, admin = daemon.desk.db, team.users["admin"]
    for i in range(3):
        await team.open_ticket("carol", f"ticket {i}")
    exact = CountCache(ttl=3600, exact_below=10)
    remembered = CountCache(ttl=3600, exact_below=3)
    for counts in (exact, remembered):
        page = await list_tickets(db, admin, TicketFilter(), offset=0, limit=1, counts=counts)
        assert page.count == 3 and len(page.results) == 1 and page.has_more
    await team.open_ticket("dave", "one more")
    fresh = await list_tickets(db, admin, TicketFilter(), offset=0, limit=10, counts=exact)
    assert fresh.count == 4 and len(fresh.results) == 4
    stale = await list_tickets(db, admin, TicketFilter(), offset=0, limit=10, counts=remembered)
    # The page is read afresh; only the count of at least `exact_below` was remembered.
    assert stale.count == 3 and len(stale.results) == 4
