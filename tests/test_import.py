"""`postdesk import-mbox` as an operator runs it: a separate process, a real mbox file or
Maildir folder, the same intake as SMTP, and a second run that duplicates nothing."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import update

from desk.config import Settings
from desk.context import open_desk
from desk.jobs.assignment import assign_waiting
from desk.models import InboundMail, OutboxMail, Ticket, TicketMessage, User
from tests.support import make_mail, rows
from tests.test_cli import postdesk


def _archive_mails() -> list[bytes]:
    first, first_id = make_mail(sender="ann@example.com", subject="Old question")
    answer, _ = make_mail(
        sender="ann@example.com",
        subject="Re: Old question",
        body="Still broken",
        in_reply_to=first_id,
    )
    other, _ = make_mail(sender="bob@example.com", subject="Another one")
    robot, _ = make_mail(
        sender="robot@example.com", subject="Away", headers={"Auto-Submitted": "auto-replied"}
    )
    broken = b"Subject: nobody wrote this\n\nno sender at all\n"
    return [first, answer, other, robot, broken, other]  # `other` twice in the archive


async def _read(settings: Settings, model: object) -> list:
    async with open_desk(settings) as desk:
        return await rows(SimpleNamespace(desk=desk), model)


async def test_import_mbox_twice_duplicates_nothing(tmp_path: Path, env, settings):
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(path)
    for raw in _archive_mails():
        box.add(raw)
    box.close()

    code, out, err = await postdesk(env, "import-mbox", str(path))
    assert code == 1, err  # one mail failed: the exit code says so
    assert (
        "6 message(s): imported 4 (3 new tickets, 1 threaded into existing tickets), "
        "1 duplicates, 1 failed"
    ) in out
    assert "100%" in err  # the progress bar
    tickets = await _read(settings, Ticket)
    assert sorted(t.subject for t in tickets) == ["Another one", "Away", "Old question"]
    assert len(await _read(settings, TicketMessage)) == 4
    [failed] = [m for m in await _read(settings, InboundMail) if m.state == "failed"]
    assert "sender" in (failed.error or "") and failed.source == "import"
    # History is not acknowledged: nobody in the archive is mailed.
    assert await _read(settings, OutboxMail) == []

    code, out, err = await postdesk(env, "import-mbox", str(path), "--no-progress")
    assert code == 0, err
    assert "6 message(s): imported 0 (0 new tickets, 0 threaded" in out
    assert "6 duplicates, 0 failed" in out and err == ""
    assert len(await _read(settings, TicketMessage)) == 4


async def test_import_maildir(tmp_path: Path, env, settings):
    folder = mailbox.Maildir(tmp_path / "Maildir", create=True)
    first, first_id = make_mail(
        sender="cy@example.com",
        subject="From Maildir",
        headers={"Date": "Mon, 02 Mar 2026 09:00:00 +0000"},
    )
    reply, _ = make_mail(
        sender="cy@example.com",
        subject="Re: From Maildir",
        in_reply_to=first_id,
        headers={"Date": "Mon, 02 Mar 2026 09:30:00 +0000"},
    )
    # A Maildir keeps no order: the reply is added first, the original must still come first.
    folder.add(mailbox.MaildirMessage(reply))
    folder.add(first)
    # A second copy, moved to cur/ and seen; its mail client added a header of its own.
    key = folder.add(b"X-Keywords: $Seen\r\n" + reply)
    message = folder[key]
    message.set_subdir("cur")
    message.add_flag("S")
    folder[key] = message
    code, out, err = await postdesk(env, "import-mbox", str(tmp_path / "Maildir"), "--no-progress")
    assert code == 0, err
    assert "3 message(s): imported 2 (1 new tickets, 1 threaded" in out
    assert "1 duplicates" in out  # the same Message-ID, sender and contents
    [ticket] = await _read(settings, Ticket)
    assert ticket.subject == "From Maildir"


async def test_import_refuses_what_is_not_an_archive(tmp_path: Path, env, settings):
    code, out, err = await postdesk(env, "import-mbox", str(tmp_path / "missing.mbox"))
    assert code == 1 and "does not exist" in err and out == ""
    (tmp_path / "plain").mkdir()
    code, _, err = await postdesk(env, "import-mbox", str(tmp_path / "plain"))
    assert code == 1 and "not a Maildir" in err
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes\nFrom the team: nothing new\n")
    code, out, err = await postdesk(env, "import-mbox", str(notes))
    assert code == 1 and out == ""
    assert "notes.txt is not an mbox file or a Maildir folder" in err
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    code, out, err = await postdesk(env, "import-mbox", str(empty))
    assert code == 1 and "is empty" in err and "imported" not in out
    assert await _read(settings, InboundMail) == []


# -- a real support mailbox: the desk's own replies, original dates, resolved tickets -------

SUPPORT = "support@localhost"  # the daemon's POSTDESK_SUPPORT_ADDRESS in tests


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _mailbox_mails() -> list[bytes]:
    """A support mailbox as an operator exports it: customers' mails, the desk's answers
    (from the support address, a `+token` reply address and an agent's own account), and a
    mail the desk started; written in no particular order."""
    question, question_id = make_mail(
        sender="ann@example.com",
        to=SUPPORT,
        subject="Invoice twice",
        body="I got the March invoice twice.",
        headers={"Date": "Fri, 01 Mar 2024 09:00:00 +0100"},
    )
    answer, answer_id = make_mail(
        sender=SUPPORT,
        name="Example Support",
        to="Ann <ann@example.com>",
        subject="Re: [#1] Invoice twice",
        body="We cancelled the second one.",
        in_reply_to=question_id,
        headers={"Date": "Fri, 01 Mar 2024 11:30:00 +0100"},
    )
    thanks, thanks_id = make_mail(
        sender="ann@example.com",
        to=SUPPORT,
        subject="Re: [#1] Invoice twice",
        body="Thanks.\nFrom now on please send them to accounts@example.com.",
        in_reply_to=answer_id,
        references=f"{question_id} {answer_id}",
        headers={"Date": "Sat, 02 Mar 2024 08:00:00 +0000"},
    )
    token_reply, _ = make_mail(
        sender="support+1.abcdef@localhost",
        to="ann@example.com",
        subject="Re: [#1] Invoice twice",
        body="Noted.",
        in_reply_to=thanks_id,
        headers={"Date": "Sat, 02 Mar 2024 09:00:00 +0000"},
    )
    agent_reply, _ = make_mail(
        sender="agent@localhost",
        name="Agent Smith",
        to="ann@example.com",
        subject="Re: [#1] Invoice twice",
        body="Done: accounts@example.com gets them from April.",
        in_reply_to=thanks_id,
        headers={"Date": "Mon, 04 Mar 2024 10:00:00 +0000"},
    )
    started, _ = make_mail(
        sender=SUPPORT,
        to="Bob <bob@example.com>",
        subject="Your contract renewal",
        body="Your contract ends in May.",
        headers={"Date": "Tue, 05 Mar 2024 12:00:00 +0000"},
    )
    return [thanks, agent_reply, question, started, token_reply, answer]


async def test_import_support_mailbox_as_history(tmp_path: Path, env, settings):
    code, _, err = await postdesk(env, "adduser", "--email", "agent@localhost", "--role", "agent")
    assert code == 0, err
    path = tmp_path / "support.mbox"
    box = mailbox.mbox(path)
    for raw in _mailbox_mails():
        box.add(raw)
    box.close()
    assert b"\n>From now on" in path.read_bytes()  # the mbox escaped the body line

    code, out, err = await postdesk(env, "import-mbox", str(path), "--no-progress")
    assert code == 0, err
    assert "6 message(s): imported 6 (2 new tickets, 4 threaded" in out

    users = {u.email: u for u in await _read(settings, User)}
    assert SUPPORT not in users and "support+1.abcdef@localhost" not in users
    assert {e for e, u in users.items() if u.role == "customer"} == {
        "ann@example.com",
        "bob@example.com",
    }
    ann_ticket, bob_ticket = sorted(await _read(settings, Ticket), key=lambda t: t.id)
    messages = sorted(await _read(settings, TicketMessage), key=lambda m: m.created_at)
    conversation = [m for m in messages if m.ticket_id == ann_ticket.id]
    assert [(m.kind, m.sender_email) for m in conversation] == [
        ("inbound", "ann@example.com"),
        ("outbound", SUPPORT),
        ("inbound", "ann@example.com"),
        ("outbound", "support+1.abcdef@localhost"),
        ("outbound", "agent@localhost"),
    ]
    assert [m.created_at for m in conversation] == [
        _utc("2024-03-01T08:00:00"),
        _utc("2024-03-01T10:30:00"),
        _utc("2024-03-02T08:00:00"),
        _utc("2024-03-02T09:00:00"),
        _utc("2024-03-04T10:00:00"),
    ]
    assert conversation[4].author_id == users["agent@localhost"].id
    assert conversation[1].author_id is None  # the support address is nobody's account
    assert {m.source for m in messages} == {"import"}
    assert not any(m.is_automatic for m in messages)
    assert conversation[2].body_text.startswith("Thanks.\nFrom now on please")

    assert ann_ticket.customer_id == users["ann@example.com"].id
    assert ann_ticket.status == "RESOLVED" and ann_ticket.assigned_agent_id is None
    assert ann_ticket.created_at == _utc("2024-03-01T08:00:00")
    assert ann_ticket.updated_at == ann_ticket.resolved_at == _utc("2024-03-04T10:00:00")
    # A mail the desk started opens the customer's ticket, with the desk's words on it.
    assert bob_ticket.customer_id == users["bob@example.com"].id
    assert bob_ticket.subject == "Your contract renewal" and bob_ticket.status == "RESOLVED"
    assert bob_ticket.created_at == _utc("2024-03-05T12:00:00")
    [bob_message] = [m for m in messages if m.ticket_id == bob_ticket.id]
    assert bob_message.kind == "outbound"
    assert await _read(settings, OutboxMail) == []  # nobody is mailed about history


async def _assign_waiting(settings: Settings) -> int:
    async with open_desk(settings) as desk:
        return await assign_waiting(desk)


async def test_import_open_leaves_tickets_to_auto_assignment(tmp_path: Path, env, settings):
    code, _, err = await postdesk(env, "adduser", "--email", "agent@localhost", "--role", "agent")
    assert code == 0, err
    async with open_desk(settings) as desk, desk.db.writer() as session:
        await session.execute(update(User).values(is_available=True))
    old, _ = make_mail(
        sender="cy@example.com", subject="Old", headers={"Date": "Mon, 02 Mar 2026 09:00:00 +0000"}
    )
    current, _ = make_mail(
        sender="dee@example.com", subject="Current", headers={"Date": "Mon, 02 Mar 2026 10:00:00"}
    )
    history = mailbox.Maildir(tmp_path / "history", create=True)
    history.add(old)
    code, out, err = await postdesk(env, "import-mbox", str(tmp_path / "history"), "--no-progress")
    assert code == 0 and "1 new tickets" in out, err
    assert await _assign_waiting(settings) == 0  # resolved history is nobody's work

    backlog = mailbox.Maildir(tmp_path / "backlog", create=True)
    backlog.add(current)
    code, out, err = await postdesk(
        env, "import-mbox", str(tmp_path / "backlog"), "--open", "--no-progress"
    )
    assert code == 0 and "1 new tickets" in out, err
    assert await _assign_waiting(settings) == 1
    tickets = {t.subject: t for t in await _read(settings, Ticket)}
    assert tickets["Old"].status == "RESOLVED" and tickets["Old"].assigned_agent_id is None
    assert tickets["Current"].status == "ASSIGNED"
    # A Date without a zone is read as UTC (RFC 5322 has no local time for it).
    assert tickets["Current"].created_at == _utc("2026-03-02T10:00:00")
    # Only the assignment notice to the agent went out: no acknowledgement to anyone.
    assert [m.kind for m in await _read(settings, OutboxMail)] == ["assigned"]
