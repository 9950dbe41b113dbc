"""IMAP intake: one poller per entry of POSTDESK_IMAP_URLS, each on its own connection.

A fetched mail goes through the same durable intake as SMTP (`Receiver.receive` returns once
the raw bytes are committed); only then is it flagged \\Seen and moved to the processed
folder, and only then does the stored position (UID, under the mailbox's UIDVALIDITY)
advance. A crash at any point is safe: a mail committed but not yet moved is fetched again
after the restart, recognised by its bytes, and moved; nothing is stored twice and nothing
is moved before it is stored. The poller waits with IDLE where the server offers it and
polls otherwise; a dropped connection reconnects with backoff, logging why."""

from __future__ import annotations

import asyncio
import logging
import re

import aioimaplib
from sqlalchemy import select, update

from desk.context import Desk
from desk.imap_mailboxes import MailboxUrl
from desk.intake import Envelope
from desk.models import ImapMailbox, utcnow
from desk.waiting import still_running

log = logging.getLogger(__name__)
FETCH_BATCH = 50
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")


class ImapError(Exception):
    """The server said NO or BAD, or the connection broke: the poller reconnects."""


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {b' '.join(response.lines)[:200]!r}")
    return response


class ImapPoller:
    def __init__(self, desk: Desk, url: str) -> None:
        self.desk = desk
        self.box = MailboxUrl.parse(url)
        self.processed = desk.settings.imap_processed_folder
        self.poll_seconds = desk.settings.imap_poll_seconds
        self.connected = asyncio.Event()  # set while a session is up (tests and health)
        self._lost = asyncio.Event()

    async def run(self) -> None:
        delay = BACKOFF_FIRST
        while still_running():
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every way a connection ends: reconnect, say why
                self.connected.clear()
                log.warning(
                    "IMAP %s: %s; reconnecting in %.0f s",
                    self.box.account,
                    f"{type(exc).__name__}: {exc}" or "connection lost",
                    delay,
                )
                await self._note_error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            else:
                delay = BACKOFF_FIRST

    async def _session(self) -> None:
        """One connection's life. A lost connection ends it at once, whatever command was
        waiting for an answer (aioimaplib would otherwise wait for its own timeout)."""
        client = await self._connect()
        try:
            work = asyncio.create_task(self._serve(client))
            lost = asyncio.create_task(self._lost.wait())
            try:
                await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                if not work.done():
                    work.cancel()
                await asyncio.gather(work, lost, return_exceptions=True)
            if not work.cancelled() and work.exception() is not None:
                raise work.exception()  # type: ignore[misc]
            if self._lost.is_set():
                raise ImapError("the connection was lost")
        finally:
            self.connected.clear()
            await _close(client)

    async def _serve(self, client: aioimaplib.IMAP4) -> None:
        try:
            await self._ensure_folder(client)
            uidvalidity = await self._select(client)
            self.connected.set()
            last_uid = await self._position(uidvalidity)
            idle = "IDLE" in client.protocol.capabilities
            while still_running():
                last_uid = await self._sync(client, uidvalidity, last_uid)
                await self._note_synced()
                if idle:
                    await self._idle(client)
                else:
                    await asyncio.sleep(self.poll_seconds)
                    _ok(await client.noop(), "NOOP")
        finally:
            self.connected.clear()

    async def _connect(self) -> aioimaplib.IMAP4:
        cls = aioimaplib.IMAP4_SSL if self.box.tls else aioimaplib.IMAP4
        self._lost = asyncio.Event()
        client = cls(
            host=self.box.host,
            port=self.box.port,
            timeout=30,
            conn_lost_cb=lambda _exc: self._lost.set(),
        )
        try:
            await client.wait_hello_from_server()
            _ok(await client.login(self.box.user, self.box.password), "LOGIN")
        except BaseException:
            await _close(client)
            raise
        return client

    async def _ensure_folder(self, client: aioimaplib.IMAP4) -> None:
        if self.processed == self.box.mailbox:
            return
        listed = _ok(await client.list('""', _quote(self.processed)), "LIST")
        if not any(line.startswith(b"(") for line in listed.lines):
            _ok(await client.create(_quote(self.processed)), f"CREATE {self.processed}")
            log.info("IMAP %s: created folder %s", self.box.account, self.processed)

    async def _select(self, client: aioimaplib.IMAP4) -> int:
        selected = _ok(await client.select(_quote(self.box.mailbox)), "SELECT")
        for line in selected.lines:
            if found := _UIDVALIDITY.search(bytes(line)):
                return int(found.group(1))
        raise ImapError("the server named no UIDVALIDITY")

    async def _position(self, uidvalidity: int) -> int:
        """Where to go on from; a changed UIDVALIDITY voids the old position (mail already
        stored is recognised by its bytes, so starting over duplicates nothing)."""
        async with self.desk.db.writer() as session:
            row = await session.scalar(
                select(ImapMailbox).where(ImapMailbox.account == self.box.account).with_for_update()
            )
            if row is None:
                row = ImapMailbox(account=self.box.account, last_uid=0)
                session.add(row)
            if row.uidvalidity != uidvalidity:
                if row.uidvalidity is not None:
                    log.warning(
                        "IMAP %s: UIDVALIDITY changed (%s -> %s); starting over",
                        self.box.account,
                        row.uidvalidity,
                        uidvalidity,
                    )
                row.uidvalidity, row.last_uid = uidvalidity, 0
            row.last_error, row.updated_at = None, utcnow()
            return int(row.last_uid)

    async def _sync(self, client: aioimaplib.IMAP4, uidvalidity: int, last_uid: int) -> int:
        """New mail in batches: one commit for a batch's raw bytes, then one STORE and one
        MOVE for its UIDs, then the position. A crash anywhere in between leaves the batch
        in the mailbox, already stored: fetched again, recognised, and moved."""
        found = _ok(await client.uid_search(f"UID {last_uid + 1}:*"), "UID SEARCH")
        uids = sorted(
            int(u)
            for line in found.lines[:-1]
            for u in bytes(line).split()
            if u.isdigit() and int(u) > last_uid
        )
        envelope = Envelope(
            mail_from=None, rcpt_tos=(self.desk.settings.support_address,), source="imap"
        )
        for start in range(0, len(uids), FETCH_BATCH):
            mails = await self._fetch(client, uids[start : start + FETCH_BATCH])
            if not mails:
                continue
            await self.desk.receiver.receive_many([(raw, envelope) for _, raw in mails])
            await self._settle(client, ",".join(str(uid) for uid, _ in mails))
            last_uid = max(uid for uid, _ in mails)
            await self._advance(uidvalidity, last_uid)
        return last_uid

    async def _fetch(self, client: aioimaplib.IMAP4, uids: list[int]) -> list[tuple[int, bytes]]:
        """BODY.PEEK: fetching must not mark the mail seen; it is flagged after the commit."""
        wanted = ",".join(str(u) for u in uids)
        fetched = _ok(await client.uid("fetch", wanted, "(UID BODY.PEEK[])"), "UID FETCH")
        mails: list[tuple[int, bytes]] = []
        lines = fetched.lines
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytearray) and i > 0:
                header = bytes(lines[i - 1])
                uid = _FETCH_UID.search(header)
                if uid is not None:
                    mails.append((int(uid.group(1)), bytes(line)))
        return sorted(mails)

    async def _settle(self, client: aioimaplib.IMAP4, uids: str) -> None:
        _ok(await client.uid("store", uids, "+FLAGS.SILENT", r"(\Seen)"), "UID STORE")
        if self.processed == self.box.mailbox:
            return
        if "MOVE" in client.protocol.capabilities:
            _ok(await client.uid("move", uids, _quote(self.processed)), "UID MOVE")
            return
        _ok(await client.uid("copy", uids, _quote(self.processed)), "UID COPY")
        _ok(await client.uid("store", uids, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
        _ok(await client.expunge(), "EXPUNGE")

    async def _advance(self, uidvalidity: int, uid: int) -> None:
        async with self.desk.db.writer() as session:
            row = await session.scalar(
                select(ImapMailbox).where(ImapMailbox.account == self.box.account)
            )
            if row is not None and row.uidvalidity == uidvalidity and row.last_uid < uid:
                row.last_uid, row.updated_at = uid, utcnow()

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        """Wait for the server to announce new mail (or for the poll interval, so a server
        that never pushes is still read, and the connection is proven alive)."""
        idle = await client.idle_start(timeout=self.poll_seconds)
        try:
            pushed = await client.wait_server_push(timeout=self.poll_seconds)
        except TimeoutError:
            pushed = None
        if client.has_pending_idle():
            client.idle_done()
        async with asyncio.timeout(30):  # not wait_for: see desk.waiting
            await idle
        if pushed is not None and b"BYE" in b" ".join(bytes(x) for x in _lines(pushed)):
            raise ImapError("the server closed the session")

    async def _note_synced(self) -> None:
        """The mailbox is in step now: the time the console shows as its last sync, and any
        error before it is over (desk.imap_mailboxes reads this for every process)."""
        async with self.desk.db.writer() as session:
            await session.execute(
                update(ImapMailbox)
                .where(ImapMailbox.account == self.box.account)
                .values(updated_at=utcnow(), last_error=None)
            )

    async def _note_error(self, error: str) -> None:
        """Why the session ended. The last sync's time stays (the console shows both); a
        mailbox that never connected gets its row here, so its error is seen too."""
        try:
            async with self.desk.db.writer() as session:
                row = await session.scalar(
                    select(ImapMailbox).where(ImapMailbox.account == self.box.account)
                )
                if row is None:
                    row = ImapMailbox(account=self.box.account, last_uid=0)
                    session.add(row)
                row.last_error = error[:1000]
        except Exception:
            log.debug("could not record the IMAP error", exc_info=True)


def _lines(pushed: object) -> list[bytes | bytearray]:
    if isinstance(pushed, list):
        return [x for x in pushed if isinstance(x, bytes | bytearray)]
    if isinstance(pushed, bytes | bytearray):
        return [pushed]
    return []


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _close(client: aioimaplib.IMAP4) -> None:
    try:
        if client.protocol is not None and client.protocol.state in ("AUTH", "SELECTED"):
            async with asyncio.timeout(5):
                await client.logout()
    except Exception:
        log.debug("IMAP logout failed; closing the connection anyway", exc_info=True)
    finally:
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()
