"""IMAP intake against a real Dovecot: mail in the mailbox becomes tickets, is flagged and
moved only after it is committed, IDLE brings new mail at once, a crash between commit and
move duplicates nothing, a new UIDVALIDITY starts over, and a cut connection comes back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from sqlalchemy import select

from daemon.lifecycle import started
from desk.context import open_desk
from desk.intake import Envelope, store_raw
from desk.models import ImapMailbox, InboundMail, Ticket
from tests.dovecot import Dovecot
from tests.support import TcpProxy, make_mail, rows, settled, wait_for


@pytest.fixture
def env(env: dict[str, str], dovecot: Dovecot) -> dict[str, str]:
    # A long poll interval: new mail that arrives within seconds came by IDLE.
    return {**env, "POSTDESK_IMAP_URLS": dovecot.url(), "POSTDESK_IMAP_POLL_SECONDS": "300"}


async def _tickets(daemon, count: int) -> list[Ticket] | None:
    found = await rows(daemon, Ticket)
    return found if len(found) >= count else None


async def test_mailbox_mail_becomes_tickets_and_is_moved_after_commit(daemon, dovecot, sink):
    raw = _crlf(make_mail(sender="ann@example.com", subject="From the mailbox")[0])
    await dovecot.append(raw)
    [ticket] = await wait_for(lambda: _tickets(daemon, 1), what="the ticket")
    assert ticket.subject == "From the mailbox"
    [stored] = await rows(daemon, InboundMail)
    assert stored.raw == raw and stored.source == "imap"

    async def moved() -> bool:
        return await dovecot.count("INBOX") == 0 and await dovecot.count("Processed") == 1

    await wait_for(moved, what="the mail moved to Processed (created for it)")
    assert await dovecot.seen("Processed") == 1
    [box] = await rows(daemon, ImapMailbox)
    assert box.account == f"support@127.0.0.1:{dovecot.port}/INBOX"
    assert box.uidvalidity and box.last_uid == 1 and "imap-secret" not in box.account
    # While the poller idles, new mail arrives at once (the poll interval is 5 minutes).
    reply, _ = make_mail(sender="bob@example.com", subject="Second")
    await dovecot.append(reply)
    await wait_for(lambda: _tickets(daemon, 2), timeout=15, what="the IDLE push")
    await settled(daemon, 2)
    await wait_for_value_sink(sink, "ann@example.com")


async def wait_for_value_sink(sink, address: str) -> None:
    async def arrived() -> bool:
        return bool(sink.to(address))

    await wait_for(arrived, what=f"the acknowledgement to {address}")


def _crlf(raw: bytes) -> bytes:
    """Mail as an IMAP server stores and serves it."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def test_mail_committed_before_a_crash_is_not_stored_twice(settings, dovecot, env):
    """The crash window: stored in the database, not yet moved on the server."""
    raw = _crlf(make_mail(sender="cy@example.com", subject="Stored before the crash")[0])
    async with open_desk(settings) as desk:
        [first_id] = await store_raw(
            desk.db, [(raw, Envelope(None, ("support@localhost",), "imap"))]
        )
    await dovecot.append(raw)
    async with started(settings) as running:

        async def moved() -> bool:
            return await dovecot.count("INBOX") == 0

        await wait_for(moved, what="the mail moved")
        await settled(running, 1)
        [stored] = await rows(running, InboundMail)
        assert stored.id == first_id  # recognised by its bytes, not stored again
        assert len(await rows(running, Ticket)) == 1


async def test_a_new_uidvalidity_starts_over(settings, dovecot, env):
    async with open_desk(settings) as desk, desk.db.writer() as session:
        session.add(
            ImapMailbox(
                account=f"support@127.0.0.1:{dovecot.port}/INBOX", uidvalidity=1, last_uid=999
            )
        )
    raw, _ = make_mail(sender="dee@example.com", subject="After a mailbox rebuild")
    await dovecot.append(raw)
    async with started(settings) as running:
        [ticket] = await wait_for(lambda: _tickets(running, 1), what="the ticket")
        assert ticket.subject == "After a mailbox rebuild"
        [box] = await rows(running, ImapMailbox)
        assert box.uidvalidity != 1 and box.last_uid == 1


async def test_a_cut_connection_reconnects(settings, dovecot, caplog):
    proxy = TcpProxy("127.0.0.1", dovecot.port)
    await proxy.start()
    through = dataclasses.replace(settings, imap_urls=(dovecot.url(port=proxy.port),))
    caplog.set_level(logging.WARNING, logger="daemon.imap")
    async with started(through) as running:
        [poller] = running.imap_pollers
        await wait_for(lambda: _is_set(poller.connected), what="the first connection")
        await proxy.cut()
        await proxy.start()  # the server is back; the poller must find it by itself
        raw, _ = make_mail(sender="eve@example.com", subject="After the outage")
        await dovecot.append(raw)
        await wait_for(lambda: _tickets(running, 1), timeout=30, what="mail after reconnect")
    await proxy.cut()  # and with it the proxy's own connections to Dovecot
    assert any("reconnecting" in r.getMessage() for r in caplog.records)
    [box] = await rows_after(settings)
    assert box.last_uid == 1


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def rows_after(settings) -> list[ImapMailbox]:
    async with open_desk(settings) as desk, desk.db.reader() as session:
        return list(await session.scalars(select(ImapMailbox)))
