"""The SMTP listener: cheap checks at RCPT, then store at DATA; business logic lives in desk.
It answers 250 only after desk's Receiver has committed the raw message.

DATA is read by a reader of our own (SupportSMTP.smtp_DATA), not aiosmtpd's, for two
reasons. Measured with bench/smtp.py (figures in docs/benchmarks.md), aiosmtpd's
line-by-line reader costs the listener several times the CPU per mail of reading in chunks,
on the daemon's one event loop. And the listener accepts what Postfix accepts (bare LF
normalised to CRLF, lines over 1,000 octets) and spools a large message to disk
(daemon/smtp_content.py), which aiosmtpd's reader cannot be asked to do. It keeps
aiosmtpd's answers otherwise (tests/test_smtp_data.py compares the two on the wire) and ends
DATA only at CRLF.CRLF (the SMTP smuggling cases are tested). It uses aiosmtpd internals
(_reader, _call_handler_hook, _set_post_data_state, _getaddr, _reset_timeout, _timeout_cb),
so aiosmtpd is pinned to the tested minor version in pyproject.toml and a test checks that
those internals are still there. How many sessions may be open, and how the listener stops,
is daemon/smtp_listener.py."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from daemon.smtp_content import END, MessageContent
from daemon.smtp_listener import SmtpListener, client_address, refuse
from desk.intake import Envelope as DeskEnvelope
from desk.intake import Receiver
from desk.mail.headers import clean_header_text

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 100
MEMORY_BYTES = 1024 * 1024  # a message's content held in memory before it is spooled
TIMEOUT = "421 4.4.2 {host} Error: timeout exceeded"  # Postfix's words
TOO_LONG = "421 4.4.2 {host} Error: session lasted too long, try again later"
DATA_TOO_LONG = "421 4.4.2 {host} Error: message took too long to send, try again later"
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
        # RFC 5321 4.5.1: "postmaster" without a domain must be accepted, as postmaster at
        # each of our domains is (they pass the domain check); it lands in the default queue.
        if domain not in self._domains and address.lower() != "postmaster":
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
    reads up to each `.\\r\\n` (rare inside a message) and hands the chunks to
    MessageContent, which finds the end (CRLF.CRLF only), applies the size limit (552),
    dot-unstuffing and line-end normalisation, and spools what is large. A session is idle
    when nothing arrives: bytes of DATA count as activity, and an idle session is told 421
    before it is closed. Everything else is aiosmtpd's."""

    def __init__(
        self,
        handler: object,
        *,
        listener: SmtpListener | None = None,
        memory_bytes: int = MEMORY_BYTES,
        spool_dir: Path | None = None,
        session_seconds: float | None = None,
        data_seconds: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]  # aiosmtpd's keywords
        self._listener = listener
        self._memory_bytes = memory_bytes
        self._spool_dir = spool_dir
        self._active_at = 0.0  # loop time octets last arrived
        # A client that keeps a session busy (NOOP now and then, DATA trickled an octet a
        # minute) is never idle: these bound the session and its DATA in time instead.
        self._session_seconds = session_seconds
        self._data_seconds = data_seconds
        self._session_timer: asyncio.TimerHandle | None = None
        self._in_data = False
        self._expired = False  # the session's time ran out during DATA: close after it
        self._refused = False  # answered 421 at connection: aiosmtpd never started

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The per-client cap is checked here, where the client's address is known."""
        if self._listener is not None:
            refusal = self._listener.admit(self, client_address(transport))
            if refusal is not None:
                self._refused = True
                refuse(transport, refusal.encode() + b"\r\n")
                return
        super().connection_made(transport)
        if self._session_seconds is not None:
            self._session_timer = self.loop.call_later(self._session_seconds, self._too_long)

    def _too_long(self) -> None:
        """The session's time is up: 421 now, or once the message in DATA is answered (a
        trickled one is cut by the DATA time limit)."""
        if self._in_data:
            self._expired = True
            return
        log.info("SMTP session from %s lasted too long; closed", self._peer())
        self.goodbye(TOO_LONG.format(host=self.hostname))

    def _peer(self) -> object:
        return self.session and self.session.peer

    def data_received(self, data: bytes) -> None:
        """Noted for the idle timer (not a new timer per read: _timeout_cb looks here)."""
        self._active_at = self.loop.time()
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
        if not self._refused:
            super().connection_lost(error)
        if self._listener is not None:
            self._listener.closed(self)

    def goodbye(self, reply: str) -> None:
        """Send `reply` and close: a timeout, or the listener stopping (RFC 5321 3.8)."""
        if self.transport is not None and not self.transport.is_closing():
            # A stream transport (uvloop's is one without subclassing asyncio's).
            cast(asyncio.WriteTransport, self.transport).write(reply.encode() + b"\r\n")
            self.transport.close()

    def _timeout_cb(self) -> None:
        """aiosmtpd closes an idle session without a word; Postfix says why first. Any
        octets received count as activity (aiosmtpd counts only whole commands): a client
        still sending a large message on a slow line is not idle."""
        quiet = self.loop.time() - self._active_at
        if quiet < self._timeout_duration:
            self._reset_timeout(self._timeout_duration - quiet)
            return
        log.info("SMTP session from %s idle too long; closed", self._peer())
        self.goodbye(TIMEOUT.format(host=self.hostname))

    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data:  # not how we run it; aiosmtpd's own path
            await super().smtp_DATA(arg)
            return
        if not await self._may_send_data(arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self._in_data = True
        if self._listener is not None:
            self._listener.data_started(self)
        try:
            await self._receive_message()
        finally:
            self._in_data = False
            if self._listener is not None:
                self._listener.data_ended(self)
        if self._listener is not None and self._listener.draining:
            self.goodbye(self._listener.stopping_reply)
        elif self._expired:
            self._too_long()

    async def _receive_message(self) -> None:
        """Read the content, store it, answer."""
        limit = self.data_size_limit or 0
        with MessageContent(
            limit=limit, memory_bytes=self._memory_bytes, spool_dir=self._spool_dir
        ) as content:
            try:
                async with asyncio.timeout(self._data_seconds):
                    await self._read_data(content)
            except TimeoutError:
                # No 250 was sent: the client sends the message again later.
                log.info("SMTP DATA from %s took too long; closed", self._peer())
                self.goodbye(DATA_TOO_LONG.format(host=self.hostname))
                return
            except (asyncio.CancelledError, asyncio.IncompleteReadError):
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            reply = await self._deliver(content)
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

    async def _read_data(self, content: MessageContent) -> None:
        """Read chunks up to the closing dot line into `content`. Over the size limit, the
        rest is read to its end and dropped as it comes, so the session can go on."""
        while True:
            try:
                chunk = await self._reader.readuntil(END)
            except asyncio.LimitOverrunError as e:  # read what cannot hold the dot line
                chunk = await self._reader.read(e.consumed)
            if content.add(chunk):
                return

    async def _deliver(self, content: MessageContent) -> str:
        """The answer to the message: aiosmtpd's refusal when too large, or the handler's
        status (250 only once it is stored)."""
        if content.too_much:
            return "552 Error: Too much mail data"
        assert self.envelope is not None
        self.envelope.content = self.envelope.original_content = content.message()
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


@dataclass(frozen=True)
class SmtpLimits:
    """What protects the listener (from Settings; Postfix's defaults where it has one)."""

    max_bytes: int  # SIZE: larger messages are refused with 552
    max_sessions: int = 100  # open at once; more are answered 421 (0: no cap)
    sessions_per_client: int = 20  # open at once from one client address (0: no cap)
    idle_seconds: float = 300.0  # RFC 5321 4.5.3.2.7's five minutes
    session_seconds: float = 1800.0  # a session's whole life, however busy
    data_seconds: float = 600.0  # one message's DATA, however many octets trickle in
    memory_bytes: int = MEMORY_BYTES  # content held in memory, per message
    spool_dir: Path | None = None  # where larger content goes (None: the system's temp)


async def start_smtp(
    receiver: Receiver,
    *,
    host: str,
    port: int,
    domains: Iterable[str],
    hostname: str,
    limits: SmtpLimits,
) -> SmtpListener:
    """Serve on the daemon's own loop: the threaded Controller would run a second loop,
    and the database engine belongs to this one. Raises OSError if it cannot listen."""
    handler = SupportHandler(receiver, domains)
    listener = SmtpListener(hostname, limits.max_sessions, limits.sessions_per_client)

    def session(door: SmtpListener) -> SupportSMTP:
        return SupportSMTP(
            handler,
            listener=door,
            memory_bytes=limits.memory_bytes,
            spool_dir=limits.spool_dir,
            session_seconds=limits.session_seconds,
            data_seconds=limits.data_seconds,
            hostname=hostname,
            ident="postdesk",
            data_size_limit=limits.max_bytes,
            enable_SMTPUTF8=True,
            timeout=limits.idle_seconds,
        )

    loop = asyncio.get_running_loop()
    listener.server = await loop.create_server(
        listener.factory(session), host=host, port=port, reuse_address=True
    )
    return listener
