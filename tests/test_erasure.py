"""Erasing a customer: their personal data goes (messages, attachments, raw mail, account),
their tickets stay for the counts, an audit entry says who did it; and raw inbound mail is
kept no longer than POSTDESK_RAW_MAIL_RETENTION_DAYS after processing."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import update

from daemon.lifecycle import Running, started
from desk.blobs import blob_path
from desk.config import Settings
from desk.models import (
    Attachment,
    AuditEntry,
    InboundMail,
    Ticket,
    TicketMessage,
    TicketParticipant,
    User,
    utcnow,
)
from tests.people import Team
from tests.support import free_port, make_mail, rows, send, settled
from tests.test_backup import _postdesk


def _mail_with_photo(sender: str, subject: str, words: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Carol Customer <{sender}>"
    msg["To"] = "support@localhost"
    msg["Subject"] = subject
    msg.set_content(words)
    msg.add_attachment(b"carol's passport scan", "image", "png", filename="passport.png")
    return msg.as_bytes()


async def test_erasing_a_customer_keeps_counts_and_removes_their_data(team: Team, daemon: Running):
    carol = team.users["carol"]
    raw = _mail_with_photo(carol.email, "My address changed", "I live at 12 Zanzibar Lane")
    await send(daemon.smtp_port, raw, sender=carol.email)
    await team.open_ticket("carol", "Second question")
    await team.open_ticket("dave", "Dave's own")
    await settled(daemon, 1)
    [photo] = await rows(daemon, Attachment)
    photo_file = blob_path(daemon.desk.settings.attachments_dir, photo.sha256)
    assert photo_file.exists()

    erase = f"/api/admin/users/{carol.id}/erase/"
    for wrong in (b"", b"{not json", b'{"confirm": "dave@example.com"}', b"{}"):
        status, _ = await team.call("admin", "POST", erase, data=wrong)
        assert status == 400, wrong  # nothing erased without the customer's own address
    assert (await rows(daemon, Ticket, Ticket.subject == "Second question")) != []
    status, done = await team.call("admin", "POST", erase, json={"confirm": carol.email.upper()})
    assert status == 200 and done["tickets"] == 2 and done["attachments"] == 1

    status, listing = await team.call("admin", "GET", "/api/tickets/")
    assert status == 200 and listing["count"] == 3  # analytics still count them
    theirs = await rows(daemon, Ticket, Ticket.customer_id == carol.id)
    assert [t.subject for t in theirs] == ["[erased]", "[erased]"]
    texts = [
        m.body_text
        for m in await rows(daemon, TicketMessage)
        if m.ticket_id in {t.id for t in theirs}
    ]
    assert texts and all("Zanzibar" not in t and "question" not in t for t in texts)
    assert await rows(daemon, Attachment) == [] and not photo_file.exists()
    [inbound] = await rows(daemon, InboundMail)
    assert inbound.raw == b"" and inbound.raw_removed_at is not None and not inbound.sender
    [account] = await rows(daemon, User, User.id == carol.id)
    assert account.email.endswith("@erased.invalid") and not account.is_active and not account.name
    # Nor is their address kept in the conversations they were part of.
    assert [p for p in await rows(daemon, TicketParticipant) if "carol" in p.address] == []
    status, found = await team.call("admin", "GET", "/api/tickets/search/?q=Zanzibar")
    assert status == 200 and found["count"] == 0
    [audit] = await rows(daemon, AuditEntry)
    assert (audit.action, audit.target, audit.actor_id) == (
        "customer.erased",
        f"user:{carol.id}",
        team.id("admin"),
    )
    assert carol.email not in str(audit.details)
    # Dave's ticket is untouched.
    assert [
        t.subject for t in await rows(daemon, Ticket, Ticket.customer_id == team.id("dave"))
    ] == ["Dave's own"]


async def test_only_admins_erase_and_only_customers(team: Team):
    confirm = {"confirm": "carol@example.com"}
    path = f"/api/admin/users/{team.id('carol')}/erase/"
    assert (await team.call("agent1", "POST", path, json=confirm))[0] == 403
    path = f"/api/admin/users/{team.id('agent2')}/erase/"
    status, body = await team.call("admin", "POST", path, json={"confirm": "agent2@localhost"})
    assert status == 400 and "customers" in body["message"]


async def _processed_days_ago(running: Running, mail_id: int, days: int) -> None:
    async with running.desk.db.writer() as session:
        await session.execute(
            update(InboundMail)
            .where(InboundMail.id == mail_id)
            .values(processed_at=utcnow() - timedelta(days=days))
        )


async def test_raw_mail_is_dropped_after_the_retention_days(settings: Settings):
    kept = dataclasses.replace(
        settings, raw_mail_retention_days=30, http_port=free_port(), smtp_port=free_port()
    )
    async with started(kept) as running:
        for n in range(2):
            raw, _ = make_mail(subject=f"mail {n}", message_id=f"<ret-{n}@example.com>")
            await send(running.smtp_port, raw)
        old, recent = await settled(running, 2)
        await _processed_days_ago(running, old.id, 31)
        await _processed_days_ago(running, recent.id, 29)
        assert running.scheduler is not None
        assert await running.scheduler.run("raw-mail-retention")
        by_id: dict[int, Any] = {m.id: m for m in await rows(running, InboundMail)}
    assert by_id[old.id].raw == b"" and by_id[old.id].raw_removed_at is not None
    assert by_id[recent.id].raw != b"" and by_id[recent.id].raw_removed_at is None
    assert by_id[old.id].ticket_id is not None  # the ticket made from it stays


async def test_the_command_line_erases_and_audits_without_an_actor(
    team: Team, daemon: Running, env: dict[str, str], tmp_path
):
    await team.open_ticket("dave", "Call me on +44 20 7946 0000")
    code, output = await _postdesk(env, tmp_path, "erase-customer", "Dave@Example.com")
    assert code == 0 and "1 ticket(s) kept anonymized" in output, output
    [audit] = await rows(daemon, AuditEntry)
    assert audit.actor_id is None and audit.target == f"user:{team.id('dave')}"
    code, output = await _postdesk(env, tmp_path, "erase-customer", "nobody@example.com")
    assert code == 1 and "no customer" in output  # a command that failed (README: exit codes)
