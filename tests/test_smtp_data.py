"""The SMTP DATA phase as a client sees it on the wire: where a message ends, what is
stored, and what happens to mail over the limits, whatever the TCP segments look like."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daemon.smtp import SupportSMTP
from desk.models import InboundMail
from tests.support import rows

HEAD = b"From: dots@example.com\r\nTo: support@localhost\r\nSubject: dots\r\n\r\n"


class Wire:
    """A bare SMTP client: bytes out exactly as written, replies read line by line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, client: str | None = None) -> Wire:
        """Connect (from the loopback address `client`, e.g. 127.0.0.2, if given)."""
        local = (client, 0) if client else None
        wire = cls(*await asyncio.open_connection("127.0.0.1", port, local_addr=local))
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


async def test_lines_over_1000_octets_are_kept_whole(daemon):
    """RFC 5321 allows 1,000 octets a line; Postfix accepts longer ones, and so do we."""
    wire = await Wire.open(daemon.smtp_port)
    for length in (1000, 5000, 300_000):
        await wire.start_data()
        body = b"z" * length + b"\r\n" + b"short\r\n"
        await wire.send_in_pieces(HEAD + body + b".\r\n", [4000, 70_000])
        assert await stored(daemon, await wire.reply()) == HEAD + body, length
    assert (await wire.command(b"NOOP")).startswith(b"250")
    await wire.close()


async def test_bare_lf_line_ends_are_normalised(daemon):
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    head = b"From: form@example.com\nTo: support@localhost\nSubject: form\n\n"
    # Only lines after CRLF are dot-stuffed (RFC 5321 4.5.2): a dot after a bare LF stays.
    wire.writer.write(head + b"one\ntwo\r\n.three\n.four\n..five\r\r\n\r\n.\r\n")
    assert await stored(daemon, await wire.reply()) == (
        b"From: form@example.com\r\nTo: support@localhost\r\nSubject: form\r\n\r\n"
        b"one\r\ntwo\r\nthree\r\n.four\r\n..five\r\r\n\r\n"
    )
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


# SMTP smuggling (CVE-2023-51764 and kin): a line end other than CRLF around the dot must
# not end DATA, or a second mail hidden in the first would be taken as commands. The cases
# are aiosmtpd's own (its test_smtpsmuggling) and the other bare CR/LF forms.
FAKE_ENDS = {
    "LF.LF": b"\n.\n",
    "CR.CR": b"\r.\r",
    "LF.CRLF": b"\n.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.CR": b"\r\n.\r",
}
SMUGGLED = (
    b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<support@localhost>\r\nDATA\r\n"
    b"From: evil@example.com\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"
)


def unstuffed(data: bytes) -> bytes:
    """What the message holds: a dot at the start of a line (after CRLF) is dropped, and
    bare LF line ends become CRLF (as Postfix normalises them)."""
    return normalised(data.replace(b"\r\n.", b"\r\n"))


def normalised(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


async def test_fake_end_of_data_does_not_end_the_message(daemon):
    wire = await Wire.open(daemon.smtp_port)
    for name, fake in FAKE_ENDS.items():
        await wire.start_data()
        # Each its own text: LF.LF and LF.CRLF are the same message once normalised.
        content = HEAD + f"Testing {name}".encode() + fake + SMUGGLED
        wire.writer.write(content + b".\r\n")
        assert await stored(daemon, await wire.reply()) == unstuffed(content), fake
        # One message, one answer: nothing of the smuggled part ran as a command.
        assert (await wire.command(b"NOOP")).startswith(b"250")
        assert (await wire.command(b"RSET")).startswith(b"250")
    assert len(await rows(daemon, InboundMail)) == len(FAKE_ENDS)
    await wire.close()


def sized(n: int) -> bytes:
    """A message of exactly `n` bytes in lines of at most 72."""
    body = n - len(HEAD)
    return HEAD + (b"y" * 70 + b"\r\n") * (body // 72) + b"z" * (body % 72 - 2) + b"\r\n"


class Keep:
    """A handler that keeps what aiosmtpd hands it."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.contents.append(envelope.original_content)
        return "250 OK"


class AiosmtpdData(SupportSMTP):
    """Our session with aiosmtpd's own line-by-line DATA reader, lines of any length
    allowed: the reference (its content with bare LF normalised, as ours stores it)."""

    smtp_DATA = SMTP.smtp_DATA
    line_length_limit = 10**6


async def received(
    cls: type[SMTP], data: bytes, sizes: list[int], **options
) -> tuple[bytes, list[bytes]]:
    """The DATA reply and the stored content of `data` sent to a bare session of `cls`."""
    keep = Keep()
    factory = lambda: cls(keep, data_size_limit=4000, **options)  # noqa: E731
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    async with server:
        wire = await Wire.open(server.sockets[0].getsockname()[1])
        await wire.start_data()
        await wire.send_in_pieces(data, sizes)
        reply = await wire.reply()
        assert (await wire.command(b"NOOP")).startswith(b"250")  # the session goes on
        await wire.close()
    return reply.split(b" ", 1)[0], keep.contents


async def reference(data: bytes, sizes: list[int]) -> tuple[bytes, list[bytes]]:
    reply, contents = await received(AiosmtpdData, data, sizes)
    return reply, [normalised(c) for c in contents]


@pytest.mark.parametrize(
    "data",
    [
        *(HEAD + b"Testing" + fake + SMUGGLED + b".\r\n" for fake in FAKE_ENDS.values()),
        # aiosmtpd's test_smtpsmuggling message, byte for byte.
        b"From: Anne Person <anne@example.com>\r\nTo: Bart Person <bart@example.com>\r\n"
        b"Subject: A test\r\nMessage-ID: <ant>\r\n\r\nTesting\n.\r\nNO SMUGGLING\n\r\n.\r\n",
        HEAD + b"..\r\n.x\r\n...\r\n\r\n.\r\n",
        b".\r\n",
        b"..\r\n.\r\n",
        HEAD + b"x" * 999 + b"\r\n.\r\n",  # a line at RFC 5321's limit: 1,001 with CRLF
        HEAD + b"x" * 1000 + b"\r\n.\r\n",  # over it: kept, as Postfix keeps it
        HEAD + b"x" * 3000 + b"\r\n.\r\n",  # over the reader's buffer limit
        sized(4000) + b".\r\n",  # at the size limit
        sized(4001) + b".\r\n",  # over it: 552
        b"..\r\n" + sized(3996) + b".\r\n",  # at it, counted before unstuffing
        b"a\nb\n\n.x\n..y\n\r\n.\r\n",  # bare LF lines, dots after them
        b"\n\r\n.\r\n",  # a bare LF first
        b"a\r\r\nb\r\n.\r\n",  # CR CR LF: a bare CR, then a line end
    ],
    ids=[
        *FAKE_ENDS,
        *("aiosmtpd's case", "stuffed", "empty", "only dot", "line 1001", "line 1002"),
        *("line 3002", "size 4000", "size 4001", "size with a stuffed dot"),
        *("bare LF lines", "bare LF first", "CR CR LF"),
    ],
)
@pytest.mark.parametrize("sizes", [[], [7, 1, 1, 1, 2]], ids=["whole", "in pieces"])
async def test_data_read_as_aiosmtpd_reads_it(data, sizes):
    """The chunked reader answers and stores what aiosmtpd's own reader does (with no line
    length limit), bare LF line ends normalised."""
    assert await received(SupportSMTP, data, sizes) == await reference(data, sizes)


PIECES = st.lists(st.integers(1, 40), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"x", b"yy"]), max_size=40),
    sizes=PIECES,
    memory=st.sampled_from([0, 3, 10**6]),
    padding=st.sampled_from([0, 3930, 5000]),  # under, at or over the size limit
)
def test_any_octets_in_any_pieces_read_as_the_reference(
    tmp_path_factory, body, sizes, memory, padding
):
    """Dots, bare CR and LF and line ends in every order, cut into any TCP segments, held
    in memory or spooled to a file after a few octets, under and over the size limit: the
    same reply and content as the reference. (Synchronous: hypothesis runs each example in
    a loop of its own.)"""
    message = HEAD + b"p" * padding + b"".join(body) + b"\r\n"
    assume(b"\r\n.\r\n" not in message)  # one message: a client stuffs a lone dot line
    data = message + b".\r\n"
    spool = tmp_path_factory.mktemp("spool")

    async def both():
        ours = await received(SupportSMTP, data, sizes, memory_bytes=memory, spool_dir=spool)
        return ours, await reference(data, sizes)

    ours, theirs = asyncio.run(both())
    assert ours == theirs


async def test_the_aiosmtpd_internals_the_reader_uses_are_there():
    """SupportSMTP replaces aiosmtpd's smtp_DATA and _getaddr and calls these: pinned in
    pyproject.toml to the tested minor version, and checked here so that an upgrade which
    moves them fails loudly rather than at the first mail. (Async: a session made outside
    a running loop makes a loop of its own, left unclosed.)"""
    import inspect

    names = ("smtp_DATA", "_getaddr", "_call_handler_hook", "_set_post_data_state", "push")
    for name in (*names, "_reset_timeout", "_timeout_cb"):
        assert callable(getattr(SMTP, name)), name
    assert list(inspect.signature(SMTP._getaddr).parameters) == ["self", "arg"]
    assert list(inspect.signature(SMTP._timeout_cb).parameters) == ["self"]
    assert list(inspect.signature(SMTP._reset_timeout).parameters) == ["self", "duration"]
    assert list(inspect.signature(SMTP._set_post_data_state).parameters) == ["self"]
    assert list(inspect.signature(SMTP.smtp_DATA).parameters) == ["self", "arg"]
    for name in ("check_helo_needed", "check_auth_needed"):
        assert inspect.iscoroutinefunction(getattr(SMTP, name)), name
    session = SupportSMTP(object())
    for name in ("_decode_data", "envelope", "data_size_limit", "local_part_limit"):
        assert hasattr(session, name), name  # _reader and _writer: every wire test above
    assert session._timeout_duration == 300  # aiosmtpd's default, read by our _timeout_cb
    assert SMTP.line_length_limit == 1001
