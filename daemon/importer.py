"""`postdesk import-mbox PATH`: an mbox file or a Maildir folder through the same durable
intake as SMTP. Each chunk of mail is committed raw first, then processed; mail already
stored (same bytes) is counted as a duplicate and not stored again, so an interrupted or
repeated import never duplicates anything. Imported mail is threaded like any other but
never acknowledged: it is history, and its senders must not hear from us years later.
What else intake does with history (the desk's own replies, original dates, tickets left
resolved) is in desk/imports.py; here the archive is read: in Date order, and an mbox's
`>From ` escaping undone."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy import select
from tqdm import tqdm

from daemon.inbound_worker import drain
from desk.context import Desk
from desk.errors import DeskError
from desk.imports import IMPORT, IMPORT_OPEN
from desk.inbound_batches import Prepare
from desk.intake import Envelope, known_hashes
from desk.models import InboundMail, InboundState

CHUNK = 200
# mboxrd (and mboxo, whose `>From ` it reads the same) quotes a body line starting with
# `From ` as `>From `, `>From ` as `>>From `, …: one `>` comes off again (RFC 4155, mboxrd).
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


class CannotImport(DeskError):
    code = "cannot_import"
    status = 400


@dataclass
class ImportSummary:
    seen: int = 0
    new_tickets: int = 0
    threaded: int = 0
    duplicates: int = 0
    failed: int = 0
    queued: int = 0  # taken by a running daemon's worker and not settled yet

    @property
    def imported(self) -> int:
        return self.new_tickets + self.threaded

    def __str__(self) -> str:
        return (
            f"{self.seen} message(s): imported {self.imported} ({self.new_tickets} new "
            f"tickets, {self.threaded} threaded into existing tickets), "
            f"{self.duplicates} duplicates, {self.failed} failed"
            f"{self._still_queued}"
        )

    @property
    def _still_queued(self) -> str:
        return f", {self.queued} still being processed by the daemon" if self.queued else ""


def open_archive(path: Path) -> mailbox.Mailbox:
    """The mbox file or Maildir folder at `path`; CannotImport says why it is neither."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise CannotImport(f"{path} is a folder but not a Maildir (no cur/ or new/)")
        return mailbox.Maildir(path, factory=None, create=False)
    if not path.is_file():
        raise CannotImport(f"{path} does not exist")
    with path.open("rb") as fh:
        start = fh.read(5)
    if start != b"From ":  # RFC 4155: an mbox starts with its first message's From_ line
        what = "is empty" if not start else "does not start with a `From ` line"
        raise CannotImport(f"{path} is not an mbox file or a Maildir folder: it {what}")
    return mailbox.mbox(path, factory=None, create=False)


def _raw_messages(archive: mailbox.Mailbox) -> Iterator[bytes]:
    """Oldest Date first: an archive keeps no order (a Maildir none at all, an exported
    mbox its folder's or thread's), and a reply read before its original would open a
    ticket of its own."""
    keys = sorted(archive.iterkeys(), key=lambda k: (_sent_at(archive, k), k))
    unescape = isinstance(archive, mailbox.mbox)
    for key in keys:
        raw = archive.get_bytes(key)
        yield _ESCAPED_FROM.sub(rb"\1", raw) if unescape else raw


def _sent_at(archive: mailbox.Mailbox, key: str) -> float:
    with archive.get_file(key) as fh:
        date = BytesHeaderParser().parse(fh).get("Date", "")  # type: ignore[arg-type]
    try:
        return parsedate_to_datetime(str(date)).timestamp()
    except (TypeError, ValueError, IndexError):
        return float("inf")  # undated mail goes last


async def import_archive(
    desk: Desk, prepare: Prepare, path: Path, *, progress: bool = True, keep_open: bool = False
) -> ImportSummary:
    """Import every mail of the archive at `path`; the tickets it opens are resolved unless
    `keep_open`. Raises CannotImport when `path` is not an mbox file or a Maildir."""
    archive = open_archive(path)
    summary = ImportSummary()
    source = IMPORT_OPEN if keep_open else IMPORT
    envelope = Envelope(mail_from=None, rcpt_tos=(desk.settings.support_address,), source=source)
    bar = tqdm(total=len(archive), unit="mail", disable=not progress, desc="import")
    try:
        chunk: list[bytes] = []
        for raw in _raw_messages(archive):
            chunk.append(raw)
            if len(chunk) >= CHUNK:
                await _import_chunk(desk, prepare, chunk, envelope, summary)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            await _import_chunk(desk, prepare, chunk, envelope, summary)
            bar.update(len(chunk))
    finally:
        bar.close()
        archive.close()
    return summary


async def _import_chunk(
    desk: Desk, prepare: Prepare, chunk: list[bytes], envelope: Envelope, summary: ImportSummary
) -> None:
    summary.seen += len(chunk)
    already = await known_hashes(desk.db, chunk)
    fresh = [raw for raw in chunk if raw not in already]
    summary.duplicates += len(chunk) - len(fresh)
    if not fresh:
        return
    ids = set(await desk.receiver.receive_many([(raw, envelope) for raw in fresh]))
    summary.duplicates += len(fresh) - len(ids)  # the same bytes twice in one archive
    await drain(desk, prepare)
    async with desk.db.reader() as session:
        outcomes = await session.execute(
            select(InboundMail.state, InboundMail.thread_rule).where(InboundMail.id.in_(ids))
        )
        for state, rule in outcomes:
            if state == InboundState.PROCESSED.value:
                if (rule or "").startswith("new"):
                    summary.new_tickets += 1
                else:
                    summary.threaded += 1
            elif state == InboundState.IGNORED.value:
                summary.duplicates += 1  # same Message-ID from the same sender
            elif state == InboundState.RECEIVED.value:
                summary.queued += 1
            else:
                summary.failed += 1
