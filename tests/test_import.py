"""`postdesk import-mbox` as an operator runs it: a separate process, a real mbox file or
Maildir folder, the same intake as SMTP, and a second run that duplicates nothing."""

from __future__ import annotations

import mailbox
from pathlib import Path
from types import SimpleNamespace

from desk.config import Settings
from desk.context import open_desk
from desk.models import InboundMail, OutboxMail, Ticket, TicketMessage
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
    key = folder.add(reply.replace(b"Re:", b"Again:"))  # one moved to cur/ and seen
    message = folder[key]
    message.set_subdir("cur")
    message.add_flag("S")
    folder[key] = message
    code, out, err = await postdesk(env, "import-mbox", str(tmp_path / "Maildir"), "--no-progress")
    assert code == 0, err
    assert "3 message(s): imported 2 (1 new tickets, 1 threaded" in out
    assert "1 duplicates" in out  # the same Message-ID from the same sender
    [ticket] = await _read(settings, Ticket)
    assert ticket.subject == "From Maildir"


async def test_import_refuses_what_is_not_an_archive(tmp_path: Path, env):
    code, _, err = await postdesk(env, "import-mbox", str(tmp_path / "missing.mbox"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "plain").mkdir()
    code, _, err = await postdesk(env, "import-mbox", str(tmp_path / "plain"))
    assert code == 2 and "not a Maildir" in err
