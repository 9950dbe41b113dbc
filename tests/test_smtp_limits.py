"""What the SMTP listener accepts and what protects it: mail as web forms send it (bare LF,
long lines), the cap on sessions, idle clients, and large messages spooled to disk while
they arrive instead of held in memory."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tracemalloc
from contextlib import asynccontextmanager
from pathlib import Path

from daemon.lifecycle import started
from desk.config import load_settings
from desk.models import InboundMail, TicketMessage
from tests.support import rows, settled, wait_for, wait_for_value
from tests.test_smtp_data import HEAD, Wire, stored

CASES = Path(__file__).parent / "cases" / "mail"  # ../shared/cases/mail, copied
MiB = 1024 * 1024


@asynccontextmanager
async def daemon_with(env, **settings):
    values = {f"POSTDESK_{k.upper()}": str(v) for k, v in settings.items()}
    async with started(load_settings({**env, **values}, read_dotenv=False)) as running:
        yield running


async def test_web_form_mail_with_bare_lf_and_a_1500_octet_line(daemon):
    """tests/cases/mail/32-bare-lf-long-line (from ../shared/cases/mail), sent as it is: bare LF
    line ends throughout and one line of 1,500 octets. Postfix takes it; so do we."""
    raw = (CASES / "32-bare-lf-long-line" / "case.eml").read_bytes()
    assert b"\r" not in raw and max(map(len, raw.split(b"\n"))) == 1500
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    wire.writer.write(raw + b"\r\n.\r\n")  # the file ends in a bare LF: CRLF.CRLF after it
    content = await stored(daemon, await wire.reply())
    assert content == raw.replace(b"\n", b"\r\n") + b"\r\n"
    await wire.close()
    await settled(daemon, 1)
    [message] = await rows(daemon, TicketMessage)
    assert message.subject == "Contact form"
    assert "x" * 1500 in message.body_text.splitlines()


async def test_mixed_line_ends_and_a_long_base64_line_become_a_ticket(daemon):
    """Our own input: a script's mail with CRLF headers, a bare-LF body and an attachment
    whose base64 is one 60,000-octet line."""
    payload = os.urandom(45_000)
    encoded = base64.b64encode(payload)
    raw = (
        b"From: Script <cron@example.com>\r\nTo: support@localhost\r\n"
        b"Subject: nightly report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\nContent-Type: text/plain\n\nReport attached.\nSecond line.\n"
        b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="report.bin"\n\n' + encoded + b"\n--b--\n"
    )
    wire = await Wire.open(daemon.smtp_port)
    await wire.start_data()
    await wire.send_in_pieces(raw + b"\r\n.\r\n", [1000, 30_000])
    assert b"\r\n" + encoded + b"\r\n" in await stored(daemon, await wire.reply())
    await wire.close()
    [inbound] = await settled(daemon, 1)
    assert inbound.state == "processed", inbound.error
    [message] = await rows(daemon, TicketMessage)
    assert message.body_text.splitlines()[:2] == ["Report attached.", "Second line."]


async def test_sessions_past_the_cap_are_answered_421(env):
    async with daemon_with(env, smtp_max_sessions=3) as running:
        port = running.smtp_port
        wires = [await Wire.open(port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"421 4.7.0")
        assert await reader.read() == b""  # and closed
        writer.close()
        for wire in wires:  # the sessions within the cap go on
            assert (await wire.command(b"NOOP")).startswith(b"250")
        await wires.pop().close()

        async def admitted() -> Wire | None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if (await reader.readline()).startswith(b"220"):
                return Wire(reader, writer)
            writer.close()
            return None

        wires.append(await wait_for(admitted, what="a place freed by the closed session"))
        assert running.smtp is not None and running.smtp.refused >= 1
        for wire in wires:
            await wire.close()


async def test_a_silent_client_is_told_421_and_dropped(env):
    async with daemon_with(env, smtp_idle_seconds=0.3) as running:
        wire = await Wire.open(running.smtp_port)
        assert (await wire.reply()).startswith(b"421 4.4.2")
        assert await wire.reader.read() == b""
        await wire.close()

        # Silent half way through DATA: dropped the same way, nothing stored.
        wire = await Wire.open(running.smtp_port)
        await wire.start_data()
        wire.writer.write(HEAD + b"half a message\r\n")
        assert (await wire.reply()).startswith(b"421 4.4.2")
        assert await wire.reader.read() == b""
        await wire.close()
        assert await rows(running, InboundMail) == []


async def test_a_slow_client_still_sending_is_not_idle(env):
    """Octets of DATA count as activity: a message that takes longer than the idle time
    to arrive, in pieces that each come sooner than it, is taken."""
    async with daemon_with(env, smtp_idle_seconds=0.5) as running:
        wire = await Wire.open(running.smtp_port)
        await wire.start_data()
        lines = [b"line %d\r\n" % i for i in range(6)]
        for line in lines:  # 6 x 0.2 s: more than the idle time in all
            wire.writer.write(line)
            await wire.writer.drain()
            await asyncio.sleep(0.2)
        wire.writer.write(b".\r\n")
        assert await stored(running, await wire.reply()) == b"".join(lines)
        await wire.close()


def spool_files(folder: Path) -> list[int]:
    """Sizes of the files this process has open in `folder` (spool files have no name)."""
    sizes = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{folder}/"):
                sizes.append(os.stat(f"/proc/self/fd/{fd}").st_size)
        except OSError:  # closed meanwhile
            continue
    return sizes


SESSIONS, EACH, MEMORY = 20, 8 * MiB, 256 * 1024


async def test_stalled_large_messages_cost_disk_not_memory(env):
    """20 clients each send 8 MiB of a message and stall before its end. The daemon holds
    them in spool files, and the memory it allocated meanwhile (tracemalloc: every Python
    allocation, the socket buffers included) stays under 1 MiB a session: 160 MiB if it
    held them, and it does not grow with the message size. Then one finishes: 250, whole."""
    async with daemon_with(env, smtp_memory_bytes=MEMORY) as running:
        spool = running.desk.settings.spool_dir
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            wires = [await Wire.open(running.smtp_port) for _ in range(SESSIONS)]
            for wire in wires:
                await wire.start_data()
            piece = (b"y" * 1022 + b"\r\n") * 64  # 64 KiB in lines of 1,024
            await asyncio.gather(*(send_stalling(w, HEAD, piece) for w in wires))

            def all_spooled() -> list[int] | None:
                """Every session's file, each with all but its last read or two in it."""
                sizes = spool_files(spool)
                full = [s for s in sizes if s >= EACH - 512 * 1024]
                return sizes if len(full) == SESSIONS else None

            sizes = await wait_for_value(all_spooled, timeout=60, what="spooled messages")
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(sizes) == SESSIONS
        assert held < SESSIONS * MiB, f"{held / MiB:.1f} MiB held for {SESSIONS} sessions"

        wires[0].writer.write(b".\r\n")
        content = await stored(running, await wires[0].reply())
        assert len(content) == len(HEAD) + EACH and content.startswith(HEAD)
        for wire in wires:
            await wire.close()


async def send_stalling(wire: Wire, head: bytes, piece: bytes) -> None:
    """Write `head` and pieces up to EACH octets, without the end of DATA."""
    wire.writer.write(head)
    for _ in range(EACH // len(piece)):
        wire.writer.write(piece)
        await wire.writer.drain()


async def _refused(port: int, client: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(client, 0))
    line = await reader.readline()
    assert await reader.read() == b""  # and closed
    writer.close()
    return line


async def test_one_client_address_cannot_take_every_session(env, caplog):
    """Past POSTDESK_SMTP_SESSIONS_PER_CLIENT, that address is answered 421 while others
    are served; the refusals are logged once per address, not once each."""
    async with daemon_with(env, smtp_sessions_per_client=2) as running:
        port = running.smtp_port
        hog = [await Wire.open(port, "127.0.0.1") for _ in range(2)]
        caplog.set_level(logging.WARNING, logger="daemon.smtp_listener")
        for _ in range(3):
            assert (await _refused(port, "127.0.0.1")).startswith(b"421 4.7.0")
        other = await Wire.open(port, "127.0.0.2")  # another client is still served
        assert (await other.command(b"NOOP")).startswith(b"250")
        warnings = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(warnings) == 1 and "127.0.0.1" in warnings[0].getMessage()
        await hog[0].close()
        await wait_for_value(lambda: running.smtp.open_sessions == 2, what="a hog session gone")
        again = await Wire.open(port, "127.0.0.1")  # a slot of its own freed: served again
        for wire in [*hog[1:], other, again]:
            await wire.close()


async def _keep_busy(wire: Wire, poke: bytes, *, reply: bool) -> bytes:
    """Write `poke` every 50 ms (reading its answer when `reply`) until the server ends
    the session; return its last line, or b"" when the server's reset came first (it
    closed with our latest poke unread, and Linux drops the 421 then)."""
    try:
        async with asyncio.timeout(20):
            while True:
                wire.writer.write(poke)
                if reply and not (line := await wire.reply()).startswith(b"250"):
                    return line
                try:  # an answer the server sends on its own (the 421) is read here
                    return await asyncio.wait_for(wire.reader.readline(), 0.05)
                except TimeoutError:
                    continue
    except ConnectionResetError:
        return b""


async def test_a_session_kept_busy_with_noop_ends_at_its_time_limit(env):
    async with daemon_with(env, smtp_session_seconds=0.5) as running:
        wire = await Wire.open(running.smtp_port)
        answer = await _keep_busy(wire, b"NOOP\r\n", reply=True)
        assert answer == b"" or answer.startswith(b"421 4.4.2 localhost Error: session lasted")
        await wait_for_value(lambda: running.smtp.open_sessions == 0, what="session closed")
        await wire.close()


async def test_data_trickled_in_ends_at_the_data_time_limit(env):
    """An octet at a time, each sooner than the idle time: cut at POSTDESK_SMTP_DATA_SECONDS
    with 421 and nothing stored (no 250 was sent: a real client sends it again)."""
    async with daemon_with(env, smtp_data_seconds=0.5) as running:
        wire = await Wire.open(running.smtp_port)
        await wire.start_data()
        answer = await _keep_busy(wire, b"x", reply=False)
        assert answer == b"" or answer.startswith(b"421 4.4.2 localhost Error: message took")
        await wait_for_value(lambda: running.smtp.open_sessions == 0, what="session closed")
        await wire.close()
        assert await rows(running, InboundMail) == []
