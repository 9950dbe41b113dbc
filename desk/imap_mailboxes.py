"""The IMAP mailboxes as the admin sees them: each configured mailbox (POSTDESK_IMAP_URLS)
with its last sync and last error. The pollers run in the daemon's IMAP process and write
where they stand to the `imap_mailboxes` table (daemon/imap.py); every other process (a web
replica on PostgreSQL + Redis is not the IMAP process) reads it from there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from desk.db import Database
from desk.models import ImapMailbox


@dataclass(frozen=True)
class MailboxUrl:
    """One entry of POSTDESK_IMAP_URLS, `imap(s)://user:password@host[:port]/MAILBOX`."""

    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str

    @classmethod
    def parse(cls, url: str) -> MailboxUrl:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (993 if tls else 143),
            tls=tls,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    @property
    def account(self) -> str:
        """The mailbox's name in the database and the log: never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.mailbox}"


async def mailbox_states(db: Database, urls: Sequence[str]) -> list[dict[str, Any]]:
    """Each configured mailbox, in the order configured: {"account" (user@host:port/MAILBOX,
    no password), "tls", "last_sync_at" (datetime, UTC, of the last successful sync: a
    connection made or a search for new mail answered; None if it never synced),
    "last_error" (str or None: what went wrong since that sync), "last_uid",
    "state" ("syncing", "failing" or "never synced")}."""
    boxes = [MailboxUrl.parse(u) for u in urls]
    async with db.reader() as session:
        found = await session.scalars(
            select(ImapMailbox).where(ImapMailbox.account.in_([b.account for b in boxes]))
        )
        rows = {row.account: row for row in found}
    return [_state(box, rows.get(box.account)) for box in boxes]


def _state(box: MailboxUrl, row: ImapMailbox | None) -> dict[str, Any]:
    synced: datetime | None = None
    if row is not None and row.uidvalidity is not None:
        synced = row.updated_at
    error = row.last_error if row is not None else None
    state = "failing" if error else "syncing" if synced else "never synced"
    return {
        "account": box.account,
        "tls": box.tls,
        "last_sync_at": synced,
        "last_error": error,
        "last_uid": row.last_uid if row is not None else 0,
        "state": state,
    }
