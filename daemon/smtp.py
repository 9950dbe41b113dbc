"""The SMTP listener: cheap checks at RCPT, then store at DATA; business logic lives in desk.
It answers 250 only after desk's Receiver has committed the raw message.

DATA is read by a reader of our own (SupportSMTP.smtp_DATA), not aiosmtpd's, for two
reasons. Measured with bench/smtp.py (figures in docs/benchmarks.md), aiosmtpd's
line-by-line reader costs the listener several times the CPU per mail of reading in chunks,
on the daemon's one event loop. And the listener must soon accept what Postfix accepts
(bare LF normalised to CRLF, lines over 1,000 octets) and spool a large message to disk,
which aiosmtpd's reader cannot be asked to do: that needs a reader of our own. This one
keeps aiosmtpd's answers (tests/test_smtp_data.py compares the two on the wire) and ends
DATA only at CRLF.CRLF (the SMTP smuggling cases are tested). It uses aiosmtpd internals (_reader,
_call_handler_hook, _set_post_data_state, _getaddr), so aiosmtpd is pinned to the tested
minor version in pyproject.toml and a test checks that those internals are still there."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Iterable

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from desk.intake import Envelope as DeskEnvelope
from desk.intake import Receiver
from desk.mail.headers import clean_header_text

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 100
_END = b".\r\n"  # a line holding only a dot ends DATA (RFC 5321 4.1.1.4)
# A reverse- or forward-path with a dot-atom local part and a domain name (RFC 5321 4.1.2),
# then the command's parameters.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"<(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
    r"(?P<rest>(?: .*)?)\Z"
)


class SupportHandler:
    def __init__(self, receiver: Receiver, accepted_domains: Iterable[str]) -> None:
        self._receiver = receiver
        self._domains = frozenset(d.lower() for d in accepted_domains)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain not in self._domains:
            # No open relay: only our own domains are accepted, refused before any data.
            return "550 5.7.1 Relaying denied: this server accepts mail for its own domain only"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        # Control characters (NUL) from a hostile client would fail the PostgreSQL insert.
        desk_envelope = DeskEnvelope(
            mail_from=clean_header_text(envelope.mail_from or "", limit=998),
            rcpt_tos=tuple(clean_header_text(r, limit=998) for r in envelope.rcpt_tos),
            source="smtp",
        )
        try:
            stored_id = await self._receiver.receive(raw, desk_envelope)
        except Exception:
            log.exception("could not store a message from %s", envelope.mail_from)
            return "451 4.3.0 Could not store the message; try again later"
        return f"250 2.0.0 OK: queued as {stored_id}"

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session error", exc_info=error)
        return "451 4.3.0 Temporary server error; try again later"


class SupportSMTP(SMTP):
    """aiosmtpd's session with DATA read in chunks instead of line by line.

    aiosmtpd reads DATA one line at a time (a `readuntil` and a few copies per line). This
    reads up to each `.\\r\\n` (rare inside a message), goes on unless it closes a
    CRLF.CRLF, and applies the same rules afterwards: the size limit (552), the line length
    limit (500), and dot-unstuffing (RFC 5321 4.5.2). Everything else is aiosmtpd's."""

    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data:  # not how we run it; aiosmtpd's own path
            await super().smtp_DATA(arg)
            return
        if not await self._may_send_data(arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data, too_much = await self._read_data()
        except (asyncio.CancelledError, asyncio.IncompleteReadError):
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        reply = await self._deliver(data, too_much)
        self._set_post_data_state()  # type: ignore[no-untyped-call]  # unannotated upstream
        await self.push(reply)

    async def _may_send_data(self, arg: str) -> bool:
        """aiosmtpd's checks before 354, with its answers."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return False
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return False
        if arg:
            await self.push("501 Syntax: DATA")
            return False
        return True

    async def _deliver(self, data: bytes, too_much: bool) -> str:
        """The answer to the message: aiosmtpd's refusals, or the handler's status."""
        if too_much:
            return "552 Error: Too much mail data"
        if max(map(len, data.split(b"\r\n"))) + 2 > self.line_length_limit:
            return "500 Line too long (see RFC5321 4.5.3.1.6)"
        assert self.envelope is not None
        self.envelope.content = self.envelope.original_content = _unstuff(data)
        status = await self._call_handler_hook("DATA")
        return "250 OK" if status is MISSING else str(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """`<local@domain> params` in its plain form (dot-atoms only) without the e-mail
        header parser aiosmtpd uses, a twentieth of the main thread for two commands a mail;
        anything else (quoted local parts, `<>`, no brackets) goes to aiosmtpd's parser."""
        plain = _PLAIN_PATH.match(arg)
        limit = self.local_part_limit
        if plain is None or (limit and len(plain["local"]) > limit):  # aiosmtpd's answer
            return super()._getaddr(arg)
        return f"{plain['local']}@{plain['domain']}", plain["rest"].lstrip()

    async def _read_data(self) -> tuple[bytes, bool]:
        """The message up to its closing dot line, and whether it was over the size limit
        (then it is read to its end and dropped as it comes, so the session can go on)."""
        limit, too_much = self.data_size_limit or 0, False
        data = bytearray()
        while not (data == _END or data.endswith(b"\r\n" + _END)):
            try:
                data += await self._reader.readuntil(_END)
            except asyncio.LimitOverrunError as e:  # read what cannot hold the dot line
                data += await self._reader.read(e.consumed)
            if limit and len(data) > limit + len(_END):
                del data[:-5]  # all but what could be the start of the dot line
                too_much = True
        return bytes(data[: -len(_END)]), too_much


def _unstuff(data: bytes) -> bytes:
    """Undo dot-stuffing: a leading dot on any line was added by the sender."""
    if data.startswith(b"."):
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n")


class SmtpListener:
    """The server plus its open sessions, so that stopping does not wait on idle clients
    (asyncio's wait_closed waits for every connection to end)."""

    def __init__(self, server: asyncio.Server, sessions: weakref.WeakSet[SMTP]) -> None:
        self.server = server
        self._sessions = sessions

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self, grace: float = 5.0) -> None:
        self.server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        try:
            async with asyncio.timeout(grace):
                await self.server.wait_closed()
        except TimeoutError:
            log.warning("SMTP sessions still open after %.0fs; stopping anyway", grace)


async def start_smtp(
    receiver: Receiver,
    *,
    host: str,
    port: int,
    domains: Iterable[str],
    max_bytes: int,
    hostname: str,
) -> SmtpListener:
    """Serve on the daemon's own loop: the threaded Controller would run a second loop,
    and the database engine belongs to this one."""
    handler = SupportHandler(receiver, domains)
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory() -> SMTP:
        session = SupportSMTP(
            handler,
            hostname=hostname,
            ident="postdesk",
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
        )
        sessions.add(session)
        return session

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=host, port=port, reuse_address=True)
    return SmtpListener(server, sessions)
