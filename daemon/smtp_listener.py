"""The SMTP listener's door (daemon/smtp.py makes the sessions): how many sessions may be
open at once, in all and from one client address (`421` past a cap, as Postfix answers past
its process limit and its smtpd_client_connection_count_limit), and how the listener stops
without losing a mail that was being sent (RFC 5321 3.8: a server shutting down answers
`421`). Refusals are logged at WARNING once a minute per client address."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from functools import partial
from typing import Protocol, cast

from desk.waiting import wait_event

log = logging.getLogger(__name__)
TOO_MANY = "421 4.7.0 {host} Too many connections, try again later"
TOO_MANY_FROM_YOU = "421 4.7.0 {host} Too many connections from your address, try again later"
REFUSAL_LOG_SECONDS = 60.0  # one WARNING per client address this often, not one per refusal
SHUTTING_DOWN = "421 4.3.2 {host} Service shutting down, try again later"


class Session(Protocol):
    """What the door needs of an SMTP session."""

    def goodbye(self, reply: str) -> None:
        """Send `reply` (a 421) and close the connection."""


class Refused(asyncio.Protocol):
    """A connection the listener does not serve: one 421 line, then closed (no session).
    `note` hears the client's address (the factory is called before it is known)."""

    def __init__(self, reply: str, note: Callable[[str], None] = lambda _client: None) -> None:
        self._reply = reply.encode() + b"\r\n"
        self._note = note

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._note(client_address(transport))
        refuse(transport, self._reply)


def refuse(transport: asyncio.BaseTransport, reply: bytes) -> None:
    # A stream transport (uvloop's is one without subclassing asyncio's).
    cast(asyncio.WriteTransport, transport).write(reply)
    transport.close()


def client_address(transport: asyncio.BaseTransport) -> str:
    """The client's IP address ("" if the transport does not say)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


def _nothing() -> None:
    pass


class SmtpListener:
    """The server with its open sessions. Sessions report to it (`opened`, `closed`,
    `data_started`, `data_ended`) so that it can count them and stop them in order."""

    def __init__(self, hostname: str, max_sessions: int, per_client: int = 0) -> None:
        self.hostname = hostname
        self.max_sessions = max_sessions  # 0: no cap
        self.per_client = per_client  # sessions from one client address (0: no cap)
        self.server: asyncio.Server | None = None
        self.draining = False
        self.refused = 0  # connections answered 421 for the cap, since start
        self.on_refused: Callable[[], None] = _nothing  # the daemon counts them (metrics)
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._in_data: weakref.WeakSet[Session] = weakref.WeakSet()
        self._no_data = asyncio.Event()  # set whenever no session is in DATA
        self._no_data.set()
        self._clients: weakref.WeakKeyDictionary[Session, str] = weakref.WeakKeyDictionary()
        self._last_warned: dict[str, float] = {}  # client address -> loop time

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    @property
    def stopping_reply(self) -> str:
        return SHUTTING_DOWN.format(host=self.hostname)

    def factory(
        self, make: Callable[[SmtpListener], asyncio.BaseProtocol]
    ) -> Callable[[], asyncio.BaseProtocol]:
        """The protocol factory for `create_server`: a session from `make`, or a refusal
        when the cap is reached or the listener is stopping. Counted here, not when the
        connection is made, so a burst of connections cannot pass the cap."""

        def accept() -> asyncio.BaseProtocol:
            if self.draining:
                return Refused(self.stopping_reply)
            if self.max_sessions and len(self._sessions) >= self.max_sessions:
                self._count_refusal()
                why = f"{len(self._sessions)} sessions open (POSTDESK_SMTP_MAX_SESSIONS)"
                return Refused(TOO_MANY.format(host=self.hostname), partial(self._warn, why=why))
            session = make(self)
            self._sessions.add(session)  # type: ignore[arg-type]  # make's sessions are Sessions
            return session

        return accept

    def admit(self, session: Session, client: str) -> str | None:
        """Called by a session once its client's address is known: None to serve it, or the
        421 to answer when that address already has `per_client` sessions open."""
        if self.per_client:
            open_here = sum(1 for other in self._clients.values() if other == client)
            if open_here >= self.per_client:
                self._count_refusal()
                self._warn(
                    client,
                    why=f"{open_here} sessions open from it (POSTDESK_SMTP_SESSIONS_PER_CLIENT)",
                )
                return TOO_MANY_FROM_YOU.format(host=self.hostname)
        self._clients[session] = client
        return None

    def _count_refusal(self) -> None:
        self.refused += 1
        self.on_refused()

    def _warn(self, client: str, *, why: str) -> None:
        """A WARNING per client address at most once per REFUSAL_LOG_SECONDS, with how
        many were refused in all."""
        now = asyncio.get_running_loop().time()
        if now - self._last_warned.get(client, -REFUSAL_LOG_SECONDS) < REFUSAL_LOG_SECONDS:
            return
        if len(self._last_warned) > 10_000:  # many addresses: forget the old ones
            self._last_warned.clear()
        self._last_warned[client] = now
        log.warning(
            "SMTP session from %s refused: %s; %d refused since start",
            client or "an unknown address",
            why,
            self.refused,
            extra={"client": client},
        )

    def closed(self, session: Session) -> None:
        self._sessions.discard(session)
        self._clients.pop(session, None)
        self.data_ended(session)

    def data_started(self, session: Session) -> None:
        self._in_data.add(session)
        self._no_data.clear()

    def data_ended(self, session: Session) -> None:
        self._in_data.discard(session)
        if not self._in_data:
            self._no_data.set()

    async def drain(self, seconds: float) -> None:
        """Stop taking mail. New connections get 421; sessions between commands get 421
        and are closed; sessions in DATA may finish for up to `seconds` (their answer, then
        421), and whatever is still in DATA after that is cut: no 250 was sent for it, so
        the client sends it again later."""
        self.draining = True
        for session in list(self._sessions):
            if session not in self._in_data:
                session.goodbye(self.stopping_reply)
        if self._in_data and not await wait_event(self._no_data, seconds):
            log.warning("SMTP: %d message(s) still arriving; cut off", len(self._in_data))
        for session in list(self._sessions):
            session.goodbye(self.stopping_reply)
        if self.server is not None:
            self.server.close()

    async def close(self, grace: float = 5.0) -> None:
        """Close the server and every session at once (after `drain`, or when a start
        failed): asyncio's wait_closed would otherwise wait for idle clients."""
        if self.server is None:
            return
        self.server.close()
        for session in list(self._sessions):
            session.goodbye(self.stopping_reply)
        try:
            async with asyncio.timeout(grace):
                await self.server.wait_closed()
        except TimeoutError:
            log.warning("SMTP sessions still open after %.0fs; stopping anyway", grace)
