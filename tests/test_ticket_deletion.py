"""Deleting a ticket (admins): everything on it goes, files no other ticket names too; an
audit entry and a `ticket.deleted` event stay; its id is never given again, so a reply to
its mail over SMTP opens a new ticket instead of landing in someone else's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from desk.blobs import blob_path
from desk.db import alembic_config
from desk.models import (
    Attachment,
    AuditEntry,
    Base,
    EventRecord,
    InboundMail,
    KnownMessageId,
    Ticket,
    TicketChange,
    TicketMessage,
    TicketParticipant,
    TimeEntry,
    User,
)
from desk.tickets.deletion import HANDLED_REFERENCES
from tests.people import Team
from tests.sockets import Live, closed_with, next_event
from tests.support import make_mail, rows, send, settled, wait_for_value

FILE = b"the same bytes on two tickets"


async def _with_file(team: Team, who: str, ticket: int, data: bytes, internal: bool = False) -> int:
    form = aiohttp.FormData()
    form.add_field("body", "see the file")
    form.add_field("is_internal", str(internal).lower())
    form.add_field("files", data, filename="f.txt", content_type="text/plain")
    status, message = await team.call(who, "POST", f"/api/tickets/{ticket}/messages/", data=form)
    assert status == 201, message
    return int(message["id"])


async def _attachments(daemon, ticket: int) -> list[Attachment]:
    ids = [m.id for m in await rows(daemon, TicketMessage, TicketMessage.ticket_id == ticket)]
    return await rows(daemon, Attachment, Attachment.ticket_message_id.in_(ids))


async def test_only_admins_delete_and_everything_on_the_ticket_goes(daemon, team: Team):
    doomed = await team.open_ticket("carol", "Spam")
    kept = await team.open_ticket("dave", "Real")
    await _with_file(team, "carol", doomed, FILE)
    await _with_file(team, "agent1", doomed, b"only on the doomed ticket", internal=True)
    await _with_file(team, "dave", kept, FILE)
    status, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{doomed}/time/", json={"minutes": 5}
    )
    assert status == 201
    status, _ = await team.call("admin", "PATCH", f"/api/tickets/{doomed}/", json={"tags": ["x"]})
    assert status == 200
    root = daemon.desk.settings.attachments_dir
    files = {a.sha256: blob_path(root, a.sha256) for a in await _attachments(daemon, doomed)}
    assert len(files) == 2 and all(p.exists() for p in files.values())

    for who in ("carol", "agent1"):
        status, answer = await team.call(who, "DELETE", f"/api/tickets/{doomed}/")
        assert status == 403, answer
    assert (await team.call("admin", "DELETE", f"/api/tickets/{doomed}/"))[0] == 204
    assert (await team.call("admin", "DELETE", f"/api/tickets/{doomed}/"))[0] == 404
    assert (await team.call("admin", "GET", f"/api/tickets/{doomed}/"))[0] == 404
    assert (await team.call("carol", "GET", f"/api/tickets/{doomed}/"))[0] == 404
    _, listed = await team.call("admin", "GET", "/api/tickets/?archived=all")
    assert doomed not in {t["id"] for t in listed["results"]}

    for model in (TicketMessage, TicketChange, TicketParticipant, TimeEntry, KnownMessageId):
        assert await rows(daemon, model, model.ticket_id == doomed) == [], model
    assert await rows(daemon, Ticket, Ticket.id == doomed) == []
    shared = blob_path(root, hashlib.sha256(FILE).hexdigest())
    assert shared.exists()  # the other ticket still names these bytes
    assert [p.exists() for d, p in files.items() if p != shared] == [False]
    [kept_file] = await _attachments(daemon, kept)
    status, body = await team.call("dave", "GET", f"/api/attachments/{kept_file.id}/")
    assert status == 200 and body == FILE

    [audit] = await rows(daemon, AuditEntry, AuditEntry.action == "ticket.deleted")
    assert audit.actor_id == team.id("admin") and audit.target == f"ticket:{doomed}"
    assert audit.details["messages"] == 3 and audit.details["attachments"] == 2
    assert audit.details["time_entries"] == 1
    events = await rows(daemon, EventRecord, EventRecord.ticket_id == doomed)
    assert [e.type for e in events] == ["ticket.deleted"]


async def test_a_deleted_ticket_id_is_never_given_again(team: Team):
    older = await team.open_ticket("carol", "older")
    newest = await team.open_ticket("carol", "newest")
    _, detail = await team.call("admin", "GET", f"/api/tickets/{newest}/")
    last_message = max(m["id"] for m in detail["messages"])
    assert (await team.call("admin", "DELETE", f"/api/tickets/{newest}/"))[0] == 204
    again = await team.open_ticket("carol", "after the delete")
    assert again not in (older, newest) and again > newest
    _, detail = await team.call("admin", "GET", f"/api/tickets/{again}/")
    assert min(m["id"] for m in detail["messages"]) > last_message


async def test_webhooks_hear_of_the_deletion(team: Team):
    status, hook = await team.call(
        "admin",
        "POST",
        "/api/webhooks/",
        json={"url": "http://127.0.0.1:9/hook", "events": ["ticket.deleted"]},
    )
    assert status == 201, hook
    ticket = await team.open_ticket("carol", "to go")
    assert (await team.call("admin", "DELETE", f"/api/tickets/{ticket}/"))[0] == 204
    _, deliveries = await team.call("admin", "GET", f"/api/webhooks/{hook['id']}/deliveries/")
    assert [d["event_type"] for d in deliveries["results"]] == ["ticket.deleted"]


async def test_the_tickets_sockets_hear_of_the_deletion(team: Team, live: Live):
    ticket = await team.open_ticket("carol", "watched")
    carol = await live.connect("carol", f"/ws/tickets/{ticket}/")
    assert (await team.call("admin", "DELETE", f"/api/tickets/{ticket}/"))[0] == 204
    event = await next_event(carol)
    assert event["type"] == "ticket_deleted" and event["ticket_id"] == ticket
    assert event["ticket"]["subject"] == "watched"  # the ticket as it was
    again = await live.connect("carol", f"/ws/tickets/{ticket}/", ready=False)
    assert await closed_with(again) == 4404


def _addresses(message: Any, header: str) -> list[str]:
    return [a for _, a in getaddresses(message.get_all(header, []))]


async def test_a_reply_to_a_deleted_tickets_mail_opens_a_new_ticket(daemon, team: Team, sink):
    raw, first_id = make_mail(sender="erin@example.com", subject="Please delete me")
    await send(daemon.smtp_port, raw, sender="erin@example.com")
    [mail] = await settled(daemon, 1)
    assert mail.state == "processed", mail.error
    deleted = mail.ticket_id
    [ack] = await wait_for_value(lambda: sink.to("erin@example.com"), what="acknowledgement")
    assert f"[#{deleted}]" in ack["Subject"]
    assert (await team.call("admin", "DELETE", f"/api/tickets/{deleted}/"))[0] == 204
    [kept] = await rows(daemon, InboundMail, InboundMail.id == mail.id)
    assert kept.ticket_id is None and kept.raw == b""  # its digest stays, its text goes

    # The customer answers the acknowledgement: every threading rule would have matched.
    reply_to = _addresses(ack, "Reply-To")[0]
    answer, _ = make_mail(
        sender="erin@example.com",
        to=reply_to,
        subject=f"Re: {ack['Subject']}",
        in_reply_to=ack["Message-ID"],
        references=f"{first_id} {ack['Message-ID']}",
    )
    await send(daemon.smtp_port, answer, sender="erin@example.com", rcpt=reply_to)
    done = await settled(daemon, 2)
    newest = max(done, key=lambda m: m.id)
    assert newest.state == "processed", newest.error
    assert newest.ticket_id is not None and newest.ticket_id > deleted
    assert newest.thread_rule is not None and newest.thread_rule.startswith("new")
    status, ticket = await team.call("admin", "GET", f"/api/tickets/{newest.ticket_id}/")
    assert status == 200 and ticket["linked_ticket_id"] is None


async def test_sqlite_tables_keep_their_indexes_and_triggers(daemon, backend):
    """Migration 0021 rebuilt the ticket tables with AUTOINCREMENT on SQLite; their partial
    index and full-text triggers are as before (PostgreSQL: sequences, nothing rebuilt)."""
    if backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's sequences never go back")
    async with daemon.desk.db.reader() as session:
        found = dict(
            (
                await session.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'tickets'")
                )
            ).all()
        )
    assert "AUTOINCREMENT" in found["tickets"]
    assert "WHERE archived_at IS NULL" in found["ix_tickets_live_updated"]
    assert {"search_tickets_ai", "search_tickets_ad", "search_tickets_au"} <= set(found)


def _migrate(connection: Any, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


def _tickets_with_messages(connection: Any, *subjects: str) -> list[int]:
    """Tickets and their first messages as schema 0019 stores them; their ids."""
    now = datetime.now(UTC)
    made = []
    for subject in subjects:
        ticket = connection.execute(
            Ticket.__table__.insert()
            .values(subject=subject, customer_id=1, queue_id=1, created_at=now, updated_at=now)
            .returning(Ticket.__table__.c.id)
        ).scalar_one()
        connection.execute(
            TicketMessage.__table__.insert().values(
                ticket_id=ticket, kind="inbound", body_text=f"{subject} burns", created_at=now
            )
        )
        made.append(ticket)
    return made


@pytest.mark.empty_database
async def test_migration_0021_keeps_an_existing_desk(database_url, tmp_path, backend):
    """Tickets from before keep their rows and search; afterwards a deleted newest ticket's
    id is not given again (SQLite: the rebuilt table; PostgreSQL: its sequence); the
    downgrade takes the time entries away again."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0019")
            await conn.run_sync(
                lambda c: c.execute(User.__table__.insert().values(id=1, email="o@example.com"))
            )
            first, newest = await conn.run_sync(_tickets_with_messages, "Printer", "Toaster")
            await conn.run_sync(_migrate, "0021")
            found = await conn.execute(text("SELECT id, subject FROM tickets ORDER BY id"))
            assert [tuple(r) for r in found] == [(first, "Printer"), (newest, "Toaster")]
            if backend == "sqlite":
                hits = await conn.execute(
                    text(
                        "SELECT m.ticket_id FROM search_ticket_messages s JOIN ticket_messages"
                        " m ON m.id = s.rowid WHERE search_ticket_messages MATCH 'toaster'"
                    )
                )
                assert [r[0] for r in hits] == [newest]
            await conn.execute(
                text("DELETE FROM ticket_messages WHERE ticket_id = :t"), {"t": newest}
            )
            await conn.execute(text("DELETE FROM tickets WHERE id = :t"), {"t": newest})
            [again] = await conn.run_sync(_tickets_with_messages, "Kettle")
            assert again > newest
            await conn.run_sync(_migrate, "0019", down=True)
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            assert "time_entries" not in tables
            found = await conn.execute(text("SELECT id FROM tickets ORDER BY id"))
            assert [r[0] for r in found] == [first, again]
    finally:
        await engine.dispose()


def test_every_reference_to_a_ticket_is_handled():
    """A table added later that names a ticket, message or attachment either is deleted
    with it by delete_ticket or deletes (or clears) itself: otherwise deleting a ticket
    would fail on its foreign key (or leave a row naming an id that no longer exists)."""
    targets = {"tickets", "ticket_messages", "attachments"}
    loose = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name not in targets:
                continue
            name = f"{table.name}.{fk.parent.name}"
            if name not in HANDLED_REFERENCES and (fk.ondelete or "").upper() not in (
                "CASCADE",
                "SET NULL",
            ):
                loose.append(name)
    assert loose == []
