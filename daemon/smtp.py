"""The SMTP listener: cheap checks at RCPT, then store at DATA; business logic lives in desk.
It answers 250 only after desk's Receiver has committed the raw message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiosmtpd.smtp import SMTP, Envelope, Session

from desk.intake import Envelope as DeskEnvelope
from desk.intake import Receiver

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 100


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
        desk_envelope = DeskEnvelope(
            mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos), source="smtp"
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


async def start_smtp(
    receiver: Receiver,
    *,
    host: str,
    port: int,
    domains: Iterable[str],
    max_bytes: int,
    hostname: str,
) -> asyncio.Server:
    """Serve on the daemon's own loop: the threaded Controller would run a second loop,
    and the database engine belongs to this one."""
    handler = SupportHandler(receiver, domains)

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname=hostname,
            ident="postdesk",
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(factory, host=host, port=port, reuse_address=True)
