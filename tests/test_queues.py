"""Queues over the HTTP API, real SMTP and real sockets: mail lands in the queue of the
address it was sent to (the default queue catches the rest), replies go out from the
queue's address, members see tickets by the queue's visibility, assign and move by their
role, hear of new tickets; a member of another queue hears nothing. And an existing desk's
data after migration 0018: every ticket in the default queue, agents see what they saw."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from daemon.lifecycle import started
from desk.auth.passwords import hash_password
from desk.db import alembic_config
from desk.models import QueueMember, QueueRole, Ticket, User
from tests.people import PASSWORD, Team
from tests.sockets import Live, closed_with, next_event, until
from tests.support import Api, make_mail, rows, send, settled, wait_for_value


async def _sales(team: Team, daemon: Any, make_user: Any) -> int:
    """Queue Sales (team visibility, sales@localhost): lead is its manager, agent2 a user.
    agent1 works the default queue only; so does `outsider`, an agent in no other queue."""
    for name in ("lead", "outsider"):
        team.users[name] = await make_user(f"{name}@localhost", "agent")
        team.tokens[name] = await team.api.token(f"{name}@localhost", PASSWORD)
    code, queue = await team.call(
        "admin", "POST", "/api/queues/", json={"name": "Sales", "addresses": ["Sales@localhost"]}
    )
    assert code == 201, queue
    assert queue["visibility"] == "team" and queue["addresses"] == ["sales@localhost"]
    for who, role in (("lead", "manager"), ("agent2", "user")):
        code, member = await team.call(
            "admin",
            "POST",
            f"/api/queues/{queue['id']}/members/",
            json={"user_id": team.id(who), "role": role},
        )
        assert code == 201, member
    return int(queue["id"])


async def _ticket_from_mail(team: Team, daemon: Any, to: str, subject: str, n: int) -> dict:
    raw, _ = make_mail(sender="carol@example.com", to=to, subject=subject)
    await send(daemon.smtp_port, raw, sender="carol@example.com", rcpt=to)
    await settled(daemon, n)
    code, found = await team.call("admin", "GET", "/api/tickets/?page_size=200")
    assert code == 200
    [ticket] = [t for t in found["results"] if t["subject"] == subject]
    return dict(ticket)


async def test_mail_lands_in_the_queue_of_its_address_and_replies_leave_from_it(
    team: Team, daemon, make_user, sink
):
    sales = await _sales(team, daemon, make_user)
    _, queues = await team.call("agent1", "GET", "/api/queues/")
    default = next(q["id"] for q in queues["results"] if q["is_default"])
    # To the queue's address (any case), to the main address, to an address nobody named.
    bought = await _ticket_from_mail(team, daemon, "SALES@localhost", "Buying 40 printers", 1)
    broken = await _ticket_from_mail(team, daemon, "support@localhost", "Printer broken", 2)
    stray = await _ticket_from_mail(team, daemon, "hello@localhost", "Who reads this?", 3)
    assert bought["queue_id"] == bought["queue"] == sales
    assert broken["queue_id"] == stray["queue_id"] == default
    # The Sales ticket is Sales' alone: agent1 (default queue only) does not see it anywhere.
    assert (await team.call("agent1", "GET", f"/api/tickets/{bought['id']}/"))[0] == 404
    _, listed = await team.call("agent1", "GET", "/api/tickets/")
    assert {t["id"] for t in listed["results"]} == {broken["id"], stray["id"]}
    _, found = await team.call("agent1", "GET", "/api/tickets/search/?q=printers")
    assert found["results"] == []
    _, listed = await team.call("agent2", "GET", f"/api/tickets/?queue={sales}")
    assert [t["id"] for t in listed["results"]] == [bought["id"]]
    # A reply on the Sales ticket goes out from sales@localhost; on the other, as before.
    for ticket, who in ((bought, "agent2"), (broken, "agent1")):
        code, _ = await team.call(
            who, "POST", f"/api/tickets/{ticket['id']}/messages/", json={"body": "On it."}
        )
        assert code == 201
    await wait_for_value(
        lambda: len([m for m in sink.to("carol@example.com") if "On it." in str(m)]) == 2,
        what="two replies",
    )
    replies = {m["Subject"]: m for m in sink.to("carol@example.com") if "Re:" in m["Subject"]}
    froms = {
        subject.split("] ", 1)[1]: m["From"].addresses[0].addr_spec
        for subject, m in replies.items()
    }
    assert froms == {"Buying 40 printers": "sales@localhost", "Printer broken": "support@localhost"}
    # Named after the queue it leaves from; the default queue's mail after the desk.
    names = {
        subject.split("] ", 1)[1]: m["From"].addresses[0].display_name
        for subject, m in replies.items()
    }
    desk_name = daemon.desk.settings.desk_name
    assert names["Buying 40 printers"].endswith("(Sales)"), names
    assert (
        names["Printer broken"].endswith(f"({desk_name})") or names["Printer broken"] == desk_name
    )


async def test_no_queue_but_the_default_takes_the_support_address(team: Team, daemon, make_user):
    sales = await _sales(team, daemon, make_user)
    async with daemon.desk.db.writer() as session:  # lead becomes Sales' queue admin
        await session.execute(
            sa.update(QueueMember)
            .where(QueueMember.queue_id == sales, QueueMember.user_id == team.id("lead"))
            .values(role=QueueRole.ADMIN.value)
        )
    path = f"/api/queues/{sales}/"
    code, _ = await team.call(
        "admin", "PATCH", path, json={"addresses": ["sales@localhost", "offers@localhost"]}
    )
    assert code == 200
    # lead is Sales' queue admin: the desk's main address (the default queue's without being
    # listed) is refused, and so is another queue's; its own addresses stay editable.
    _, queues = await team.call("lead", "GET", "/api/queues/")
    default = next(q for q in queues["results"] if q["is_default"])
    code, _ = await team.call(
        "admin", "PATCH", f"/api/queues/{default['id']}/", json={"addresses": ["help@localhost"]}
    )
    assert code == 200
    for taken, reason in (("support@localhost", "support_address"), ("help@localhost", None)):
        code, refused = await team.call(
            "lead", "PATCH", path, json={"addresses": ["sales@localhost", taken]}
        )
        assert code == 409, refused
        assert refused["details"].get("reason") == reason and taken in refused["message"]
    code, kept = await team.call("lead", "PATCH", path, json={"addresses": ["offers@localhost"]})
    assert code == 200 and kept["addresses"] == ["offers@localhost"]
    # Mail to the main address still lands in the default queue.
    broken = await _ticket_from_mail(team, daemon, "support@localhost", "Printer broken", 1)
    assert broken["queue_id"] == default["id"]
    # Nor may a site admin: mail to the desk's own address stays in the default queue.
    code, refused = await team.call(
        "admin", "PATCH", path, json={"addresses": ["offers@localhost", "Support@localhost"]}
    )
    assert code == 409 and refused["details"]["reason"] == "support_address", refused
    assert "support@localhost" in refused["message"]
    _, unchanged = await team.call("admin", "GET", path)
    assert unchanged["addresses"] == ["offers@localhost"]
    again = await _ticket_from_mail(team, daemon, "support@localhost", "Printer again", 2)
    assert again["queue_id"] == default["id"]


async def test_visibility_assignment_and_taking_a_ticket(team: Team, daemon, make_user):
    sales = await _sales(team, daemon, make_user)
    t1 = await team.open_ticket(
        "admin", "Quote please", customer_email="dave@other.org", queue=sales
    )
    t2 = await team.open_ticket(
        "admin", "Second quote", customer_email="dave@other.org", queue=sales
    )
    # A user of the queue gives an unassigned ticket to a member, not to an outsider.
    assign = f"/api/tickets/{t1}/assign/"
    code, body = await team.call(
        "agent2", "POST", assign, json={"assigned_agent": team.id("agent1")}
    )
    assert code == 400 and list(body["details"]["fields"]) == ["assigned_agent"]
    code, body = await team.call("agent2", "POST", assign, json={"assigned_agent": team.id("lead")})
    assert code == 200 and body["assigned_agent_id"] == team.id("lead")
    # Sales is `team`: agent2 still sees lead's ticket, but may not take it from lead.
    assert (await team.call("agent2", "GET", f"/api/tickets/{t1}/"))[0] == 200
    code, _ = await team.call("agent2", "POST", assign, json={"assigned_agent": team.id("agent2")})
    assert code == 403
    # The manager may: lead hands it to agent2.
    code, body = await team.call("lead", "POST", assign, json={"assigned_agent": team.id("agent2")})
    assert code == 200 and body["assigned_agent_id"] == team.id("agent2")
    # IN_PROGRESS on an unassigned ticket: whoever set it takes it.
    code, body = await team.call(
        "lead", "POST", f"/api/tickets/{t2}/set-status/", json={"status": "IN_PROGRESS"}
    )
    assert code == 200 and body["status"] == "IN_PROGRESS"
    assert body["assigned_agent_id"] == team.id("lead")
    # The default queue kept today's rule (`assigned`): agent1 does not see agent2's ticket.
    t3 = await team.open_ticket("carol", "Default queue")
    code, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{t3}/assign/", json={"assigned_agent": team.id("agent2")}
    )
    assert code == 200
    assert (await team.call("agent1", "GET", f"/api/tickets/{t3}/"))[0] == 404
    # Turned to `team` by its admin, it shows.
    _, queues = await team.call("admin", "GET", "/api/queues/")
    default = next(q["id"] for q in queues["results"] if q["is_default"])
    code, _ = await team.call(
        "agent1", "PATCH", f"/api/queues/{default}/", json={"visibility": "team"}
    )
    assert code == 403
    code, q = await team.call(
        "admin", "PATCH", f"/api/queues/{default}/", json={"visibility": "team"}
    )
    assert code == 200 and q["visibility"] == "team"
    assert (await team.call("agent1", "GET", f"/api/tickets/{t3}/"))[0] == 200


async def test_moving_a_ticket_between_queues(team: Team, daemon, make_user):
    sales = await _sales(team, daemon, make_user)
    t = await team.open_ticket("carol", "Wrong queue")
    _, ticket = await team.call("admin", "GET", f"/api/tickets/{t}/")
    default = ticket["queue_id"]
    move = f"/api/tickets/{t}/move/"
    code, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert code == 200
    # A plain member may not move it; a customer not at all.
    assert (await team.call("agent1", "POST", move, json={"queue": sales}))[0] == 403
    assert (await team.call("carol", "POST", move, json={"queue": sales}))[0] == 403
    # The site admin moves it; agent1 is no member of Sales and gives it up.
    code, body = await team.call("admin", "POST", move, json={"queue": sales})
    assert code == 200 and body["queue_id"] == sales and body["assigned_agent_id"] is None
    assert body["status"] == "OPEN"
    assert (await team.call("agent1", "GET", f"/api/tickets/{t}/"))[0] == 404
    # lead manages Sales and works the default queue too (new staff join it): may move it
    # back; not to a queue that does not exist.
    code, body = await team.call("lead", "POST", move, json={"queue": 999})
    assert code == 400 and list(body["details"]["fields"]) == ["queue"]
    _, history = await team.call("admin", "GET", f"/api/tickets/{t}/history/")
    changes = [(h["field"], h["to"]) for h in history["results"]]
    assert ("queue", str(sales)) in changes and changes[-1] == ("status", "OPEN")
    # A queue holding tickets is not deleted, nor the default; an empty one is, by a
    # superadmin (or a site admin) only.
    assert (await team.call("admin", "DELETE", f"/api/queues/{sales}/"))[0] == 409
    assert (await team.call("admin", "DELETE", f"/api/queues/{default}/"))[0] == 409
    code, body = await team.call("lead", "POST", move, json={"queue": default})
    assert code == 200 and body["queue_id"] == default
    assert (await team.call("lead", "DELETE", f"/api/queues/{sales}/"))[0] == 403
    assert (await team.call("admin", "DELETE", f"/api/queues/{sales}/"))[0] == 204
    assert (await team.call("lead", "GET", f"/api/queues/{sales}/"))[0] == 404


async def test_new_tickets_reach_members_who_want_them_and_nobody_else(
    team: Team, daemon, make_user, live: Live, sink
):
    sales = await _sales(team, daemon, make_user)
    code, _ = await team.call(
        "agent2",
        "PATCH",
        f"/api/queues/{sales}/members/{team.id('agent2')}/",
        json={"mail_new_tickets": True},
    )
    assert code == 200
    # Another member's wishes are not agent2's to change.
    code, _ = await team.call(
        "agent2",
        "PATCH",
        f"/api/queues/{sales}/members/{team.id('lead')}/",
        json={"mail_new_tickets": True},
    )
    assert code == 403
    # outsider wants to hear of new tickets in the default queue (off for those who joined
    # it by default, as before queues).
    default = (await team.call("admin", "GET", f"/api/tickets/{await team.open_ticket('carol')}/"))[
        1
    ]["queue_id"]
    code, _ = await team.call(
        "outsider",
        "PATCH",
        f"/api/queues/{default}/members/{team.id('outsider')}/",
        json={"notify_new_tickets": True},
    )
    assert code == 200
    member = await live.connect("agent2", "/ws/notifications/")
    other = await live.connect("outsider", "/ws/notifications/")
    raw, _ = make_mail(sender="dave@other.org", to="sales@localhost", subject="Big order")
    await send(daemon.smtp_port, raw, sender="dave@other.org", rcpt="sales@localhost")
    event = await until(member, "ticket_created")
    assert event["data"]["ticket"]["subject"] == "Big order"
    assert event["data"]["ticket"]["queue_id"] == sales
    big_order = event["ticket_id"]
    # agent2 asked for mail too.
    [mail] = await wait_for_value(lambda: sink.to("agent2@localhost"), what="new ticket mail")
    assert "Big order" in mail["Subject"] and mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"].addresses[0].addr_spec == "sales@localhost"
    # outsider (default queue only) hears of the next default-queue ticket first, so the
    # Sales ticket never reached it.
    t = await team.open_ticket("carol", "For the default queue")
    event = await next_event(other)
    assert event["type"] == "ticket_created" and event["ticket_id"] == t
    assert sink.to("outsider@localhost") == [] and sink.to("agent1@localhost") == []
    # Nor may outsider follow the Sales ticket's own socket: it does not exist for them.
    sales_ticket = await live.connect("outsider", f"/ws/tickets/{big_order}/", ready=False)
    assert await closed_with(sales_ticket) == 4404
    for ws in (member, other):
        await ws.close()


async def test_directories_and_queue_reports(team: Team, daemon, make_user):
    sales = await _sales(team, daemon, make_user)
    await team.open_ticket("admin", "Sales lead", customer_email="dave@other.org", queue=sales)
    await team.open_ticket("carol", "Elsewhere")
    code, staff = await team.call("agent1", "GET", "/api/staff/?search=lead")
    assert code == 200 and [p["email"] for p in staff["results"]] == ["lead@localhost"]
    # agent1 is not in Sales: its membership shows only to its members (as its members list).
    assert [q["name"] for q in staff["results"][0]["queues"]] == ["Support"]
    assert (await team.call("agent1", "GET", f"/api/staff/?queue={sales}"))[0] == 404
    code, members = await team.call("lead", "GET", f"/api/staff/?queue={sales}")
    assert {p["email"] for p in members["results"]} == {"lead@localhost", "agent2@localhost"}
    code, customers = await team.call("agent2", "GET", "/api/customers/?search=DAVE@OTHER")
    assert code == 200 and [c["email"] for c in customers["results"]] == ["dave@other.org"]
    assert (await team.call("carol", "GET", "/api/customers/"))[0] == 403
    assert (await team.call("carol", "GET", "/api/staff/"))[0] == 403
    # Sales' manager reads Sales' numbers, and only those; its user does not.
    code, summary = await team.call("lead", "GET", f"/api/analytics/summary/?queue={sales}")
    assert code == 200 and summary["total"] == 1
    assert (await team.call("lead", "GET", "/api/analytics/summary/"))[0] == 403
    assert (await team.call("agent2", "GET", f"/api/analytics/volume/?queue={sales}"))[0] == 403
    _, everything = await team.call("admin", "GET", "/api/analytics/summary/")
    assert everything["total"] == 2


@pytest.mark.empty_database
async def test_an_existing_desk_keeps_working_after_the_migration(settings):
    """A desk at migration 0014 with tickets in every state of assignment: after the upgrade
    every ticket is in the default queue (`assigned` visibility), today's staff are its
    members, and each agent sees exactly what they saw before."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to, "0014")
        people = {}
        for email, role in (
            ("admin@localhost", "admin"),
            ("agent1@localhost", "agent"),
            ("agent2@localhost", "agent"),
            ("carol@example.com", "customer"),
        ):
            people[email.split("@")[0]] = await _insert_user(conn, email, role)
        tickets = {
            name: await _insert_ticket(conn, name, people["carol"], people.get(holder))
            for name, holder in (("free", None), ("mine", "agent1"), ("theirs", "agent2"))
        }
    await engine.dispose()
    async with started(settings) as running:
        stored = await rows(running, Ticket)
        assert len(stored) == 3 and {t.queue_id for t in stored} == {1}
        async with aiohttp.ClientSession() as http:
            api = Api(base=f"http://127.0.0.1:{settings.http_port}", http=http)
            seen = {}
            for who in ("admin", "agent1", "agent2"):
                token = await _password_token(api, running, f"{who}@localhost")
                _, listed = await api.call("GET", "/api/tickets/", token)
                seen[who] = {t["id"] for t in listed["results"]}
            _, queues = await api.call("GET", "/api/queues/", token)
            _, members = await api.call("GET", "/api/queues/1/members/", token)
    assert seen == {
        "admin": set(tickets.values()),
        "agent1": {tickets["free"], tickets["mine"]},
        "agent2": {tickets["free"], tickets["theirs"]},
    }
    [queue] = queues["results"]
    assert queue["is_default"] and queue["visibility"] == "assigned" and queue["name"] == "Support"
    assert {(m["email"], m["role"]) for m in members["results"]} == {
        ("admin@localhost", "admin"),
        ("agent1@localhost", "user"),
        ("agent2@localhost", "user"),
    }


def _upgrade_to(connection: sa.Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def _insert_user(conn: Any, email: str, role: str) -> int:
    result = await conn.execute(
        sa.text(
            "INSERT INTO users (email, name, role, is_active, created_at, is_available, "
            "capacity, notify_on_reply, is_company_admin) VALUES "
            "(:e, :n, :r, :t, CURRENT_TIMESTAMP, :f, 10, :t, :f) RETURNING id"
        ),
        {"e": email, "n": email.split("@")[0], "r": role, "t": True, "f": False},
    )
    return int(result.scalar_one())


async def _insert_ticket(conn: Any, subject: str, customer: int, agent: int | None) -> int:
    result = await conn.execute(
        sa.text(
            "INSERT INTO tickets (subject, status, priority, customer_id, assigned_agent_id, "
            "created_at, updated_at) VALUES (:s, :st, 'MEDIUM', :c, :a, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"s": subject, "st": "ASSIGNED" if agent else "OPEN", "c": customer, "a": agent},
    )
    return int(result.scalar_one())


async def _password_token(api: Api, running: Any, email: str) -> str:
    """Accounts inserted by hand have no password: give them one."""
    async with running.desk.db.writer() as session:
        await session.execute(
            sa.update(User).where(User.email == email).values(password_hash=hash_password(PASSWORD))
        )
    return await api.token(email, PASSWORD)


async def test_staff_who_name_no_queue_open_tickets_where_they_see_them(
    team: Team, daemon: Any, make_user: Any
):
    """Without `queue`: the default queue if the opener works in it, else their only
    queue, else 400 asking for one (and nothing is created)."""
    sales = await _sales(team, daemon, make_user)
    _, queues = await team.call("admin", "GET", "/api/queues/")
    default = next(q["id"] for q in queues["results"] if q["is_default"])
    path = f"/api/queues/{default}/members/{team.id('lead')}/"
    assert (await team.call("admin", "DELETE", path))[0] == 204  # lead: Sales only
    code, made = await team.call(
        "lead", "POST", "/api/tickets/", json={"subject": "Lead's", "description": "x"}
    )
    assert code == 201 and made["queue_id"] == sales, made
    assert (await team.call("lead", "GET", f"/api/tickets/{made['id']}/"))[0] == 200
    code, billing = await team.call("admin", "POST", "/api/queues/", json={"name": "Billing"})
    assert code == 201
    path = f"/api/queues/{billing['id']}/members/"
    code, _ = await team.call(
        "admin", "POST", path, json={"user_id": team.id("lead"), "role": "user"}
    )
    assert code == 201
    _, before = await team.call("admin", "GET", "/api/tickets/?page_size=1")
    for extra in ({}, {"queue": default}):  # in two queues, neither the default; not theirs
        code, body = await team.call(
            "lead", "POST", "/api/tickets/", json={"subject": "Which?", "description": "x", **extra}
        )
        assert code == 400 and list(body["details"]["fields"]) == ["queue"], body
    _, after = await team.call("admin", "GET", "/api/tickets/?page_size=1")
    assert after["count"] == before["count"]
    # agent1 works the default queue: theirs land there, as before.
    code, made = await team.call(
        "agent1", "POST", "/api/tickets/", json={"subject": "Mine", "description": "x"}
    )
    assert code == 201 and made["queue_id"] == default


async def test_a_queue_s_automatic_mail_is_named_after_it(team: Team, daemon, make_user, sink):
    """The acknowledgement of mail to sales@ and the notices of its ticket read "Sales", as
    its agents' replies read "Ann (Sales)"; the default queue's, the desk's name."""
    await _sales(team, daemon, make_user)
    bought = await _ticket_from_mail(team, daemon, "sales@localhost", "Quote for 40", 1)
    broken = await _ticket_from_mail(team, daemon, "support@localhost", "Printer broken", 2)

    def acknowledgements() -> dict[str, Any]:
        found = {
            m["Subject"].split("] ", 1)[1]: m
            for m in sink.to("carol@example.com")
            if m["Auto-Submitted"] == "auto-replied"
        }
        return found if len(found) == 2 else {}

    acks = await wait_for_value(acknowledgements, what="both acknowledgements")
    [sales_from] = acks["Quote for 40"]["From"].addresses
    assert (sales_from.display_name, sales_from.addr_spec) == ("Sales", "sales@localhost")
    [desk_from] = acks["Printer broken"]["From"].addresses
    assert desk_from.display_name == daemon.desk.settings.desk_name
    # A notice of the Sales ticket (resolved by its manager) is the queue's too.
    path = f"/api/tickets/{bought['id']}/set-status/"
    assert (await team.call("lead", "POST", path, json={"status": "RESOLVED"}))[0] == 200

    def notice() -> Any:
        mails = sink.to("carol@example.com")
        return [m for m in mails if "marked resolved" in m.get_body(("plain",)).get_content()]

    [resolved] = await wait_for_value(notice, what="the status notice")
    assert resolved["From"].addresses[0].display_name == "Sales"
    assert broken["queue_id"] != bought["queue_id"]
