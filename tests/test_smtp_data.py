"""The SMTP DATA phase as a client sees it on the wire: where a message ends, what is
stored, and what happens to mail over the limits, whatever the TCP segments look like."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import SMTP

from daemon.smtp import SupportSMTP
from desk.models import InboundMail
from tests.support import rows

HEAD = b"From: dots@example.com\r\nTo: support@localhost\r\nSubject: dots\r\n\r\n"


class Wire:
    """A bare SMTP client: bytes out exactly as written, replies read line by line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Wire:
        wire = cls(*await asyncio.open_connection("127.0.0.1", port))
        assert (await wire.reply()).startswith(b"220")
        return wire

    async def reply(self) -> bytes:
        """One whole reply (the last line of a multi-line one)."""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 30)
            if line[3:4] != b"-":
                return line

    async def command(self, line: bytes) -> bytes:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def start_data(self) -> None:
        assert (await self.command(b"EHLO client.example")).startswith(b"250")
        assert (await self.command(b"MAIL FROM:<dots@example.com>")).startswith(b"250")
        assert (await self.command(b"RCPT TO:<support@localhost>")).startswith(b"250")
        assert (await self.command(b"DATA")).startswith(b"354")

    async def send_in_pieces(self, data: bytes, sizes: list[int]) -> None:
        """Write `data` in segments of these sizes (the last takes the rest), draining each
        so that the server sees them one at a time."""
        for size in sizes:
            self.writer.write(data[:size])
            await self.writer.drain()
            await asyncio.sleep(0.02)
            data = data[size:]
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def stored(daemon, reply: bytes) -> bytes:
    assert reply.startswith(b"250"), reply
    stored_id = int(reply.rsplit(b" ", 1)[1])
    [inbound] = await rows(daemon, InboundMail, InboundMail.id == stored_id)
    return inbound.raw


async def test_dot_stuffed_lines_are_stored_as_written(daemon):
    body = b"Thanks.\r\n.\r\n..\r\n.leading dot\r\nlast line.\r\n"
    stuffed = b"Thanks.\r\n..\r\n...\r\n..leading dot\r\nlast line.\r\n"
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    wire.writer.write(HEAD + stuffed + b".\r\n")
    assert await stored(daemon, await wire.reply()) == HEAD + body
    await wire.close()


@pytest.mark.parametrize(
    "sizes",
    [[1] * 12, [len(HEAD) + 9, 1, 1, 1, 1], [len(HEAD) + 11, 2], [len(HEAD) + 10, 3]],
    ids=["byte by byte start", "end line byte by byte", "split after CR", "split after dot"],
)
async def test_end_of_data_found_across_segments(daemon, sizes):
    data = HEAD + b"one line.\r\n.\r\n"
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    await wire.send_in_pieces(data, sizes)
    assert await stored(daemon, await wire.reply()) == HEAD + b"one line.\r\n"
    await wire.close()


async def test_empty_message_and_pipelined_commands_after_it(daemon):
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    # The end line and the next two commands in one segment: none of them may be taken as
    # part of the message, and each gets its own answer.
    wire.writer.write(b".\r\nNOOP\r\nQUIT\r\n")
    assert await stored(daemon, await wire.reply()) == b""
    assert (await wire.reply()).startswith(b"250")
    assert (await wire.reply()).startswith(b"221")
    await wire.close()


async def test_over_the_size_limit_is_refused_and_the_session_goes_on(env, sink):
    from daemon.lifecycle import started
    from desk.config import load_settings

    small = load_settings({**env, "POSTDESK_MAX_MESSAGE_BYTES": "10000"}, read_dotenv=False)
    async with started(small) as running:
        wire = await Wire.open(running.smtp_port)
        await wire.start_data()  # no SIZE declared: only the DATA phase can notice
        big = HEAD + (b"y" * 70 + b"\r\n") * (small.smtp_size_limit // 72 + 1)
        assert len(big) > small.smtp_size_limit
        await wire.send_in_pieces(big + b".\r\n", [5000] * 3)
        assert (await wire.reply()).startswith(b"552")
        assert (await wire.command(b"NOOP")).startswith(b"250")
        assert (await wire.command(b"MAIL FROM:<dots@example.com>")).startswith(b"250")
        assert (await wire.command(b"RCPT TO:<support@localhost>")).startswith(b"250")
        assert (await wire.command(b"DATA")).startswith(b"354")
        wire.writer.write(HEAD + b"small\r\n.\r\n")
        assert await stored(running, await wire.reply()) == HEAD + b"small\r\n"
        assert len(await rows(running, InboundMail)) == 1
        await wire.close()


async def test_line_over_1000_octets_is_refused(daemon):
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    wire.writer.write(HEAD + b"z" * 1000 + b"\r\n.\r\n")
    assert (await wire.reply()).startswith(b"500")
    assert (await wire.command(b"NOOP")).startswith(b"250")
    assert await rows(daemon, InboundMail) == []
    await wire.close()


@pytest.mark.parametrize(
    "arg",
    [
        "<bench@example.com>",
        "<a.b+c@x-y.example.org> BODY=8BITMIME SMTPUTF8",
        "<a@example.com>  SIZE=1",
        "<a@example.com>SIZE=1",
        "<>",
        '<"quoted local"@example.com>',
        "bare@example.com",
        "<a..b@example.com>",
        "<a@example..com>",
        "<a@[127.0.0.1]>",
        "<jörg@example.com>",
        "<abcdefghij@example.com>",
    ],
)
async def test_addresses_read_as_aiosmtpd_reads_them(arg):
    """MAIL/RCPT paths in their plain form skip the e-mail header parser: the answer must
    be aiosmtpd's own, local part limit included. (Async: a session made outside a running
    loop makes a loop of its own, left unclosed.)"""
    ours, theirs = SupportSMTP(object()), SMTP(object())
    ours.local_part_limit = theirs.local_part_limit = 8
    assert ours._getaddr(arg) == theirs._getaddr(arg)
