"""Hands composed mail to the relay with aiosmtplib; says whether a failure is worth a retry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiosmtplib

from desk.mail.compose import needs_smtputf8


class SendError(Exception):
    """The relay did not take the mail. The message is readable text (what the outbox row
    records and agents are shown: "550 5.1.1 no such user (erin@example.net)"), never a
    Python repr. `refused`: the recipients the relay refused permanently at RCPT (5xx), by
    address, with its answer ("550 5.1.1 no such user")."""

    def __init__(self, message: str, refused: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.refused = refused or {}


class TransientSendError(SendError):
    """4xx or network trouble: try again later."""


class PermanentSendError(SendError):
    """5xx: the relay will never take this mail."""


@dataclass(frozen=True)
class Delivered:
    """The relay took the mail (for at least one recipient)."""

    answer: str  # its answer to DATA ("2.0.0 Ok: queued as 4F1...")
    refused: dict[str, str] = field(default_factory=dict)  # as SendError.refused


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if tls else 25),
            use_tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> Delivered:
        """Hand `raw` over for every recipient in one transaction; return the relay's answer
        to DATA (e.g. "2.0.0 Ok: queued as 4F1...") and the recipients it refused for good.
        A refusal of all of them raises; one the relay takes for some recipients counts as
        sent (SMTP semantics). A non-ASCII
        address or header goes with SMTPUTF8 (RFC 6531); a relay that does not offer it
        can never carry the mail (PermanentSendError saying so)."""
        utf8 = needs_smtputf8([sender, *recipients]) or not _header_block(raw).isascii()
        try:
            refused, answer = await aiosmtplib.send(
                raw,
                sender=sender,
                recipients=list(recipients),
                mail_options=["SMTPUTF8"] if utf8 else [],
                hostname=self.host,
                port=self.port,
                use_tls=self.use_tls,
                username=self.username,
                password=self.password,
                timeout=30,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            lost = {e.recipient: (e.code, e.message) for e in exc.recipients}
            raise _classify(min(codes) if codes else 450, describe(exc), lost) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _classify(exc.code, describe(exc)) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            needing = [a for a in recipients if not a.isascii()] or ["a UTF-8 header"]
            raise PermanentSendError(
                "the relay does not offer SMTPUTF8 (RFC 6531), which this mail needs for "
                + ", ".join(needing)
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(describe(exc)) from exc
        lost = {address: (r.code, r.message) for address, r in refused.items()}
        return Delivered(answer, _permanent(lost))


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[:end]


def _classify(code: int, text: str, lost: dict[str, tuple[int, str]] | None = None) -> SendError:
    refused = _permanent(lost or {})
    if 500 <= code < 600:
        return PermanentSendError(text, refused)
    return TransientSendError(text, refused)


def _permanent(lost: dict[str, tuple[int, str]]) -> dict[str, str]:
    """The recipients refused for good (5xx), each with the relay's answer."""
    return {a: _answer(code, text) for a, (code, text) in lost.items() if 500 <= code < 600}


def _answer(code: int, text: str) -> str:
    """`550 5.1.1 no such user`: a reply's code and words, on one line."""
    return " ".join(f"{code} {text}".split())


def describe(exc: BaseException) -> str:
    """What went wrong, as a person reads it (recorded on the outbox row, shown to agents):
    the relay's answers with the address they are about, or what happened to the
    connection; never a Python repr."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        parts = [describe(e) for e in exc.recipients]
        return "; ".join(parts) or "the relay refused every recipient"
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return f"{_answer(exc.code, exc.message)} ({exc.recipient})"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"{_answer(exc.code, exc.message)} (sender {exc.sender})"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _answer(exc.code, exc.message)
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return "the relay did not answer in time"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return f"the relay closed the connection ({_words(exc)})"
    if isinstance(exc, (aiosmtplib.SMTPConnectError, OSError)):
        return f"could not connect to the relay ({_words(exc)})"
    return _words(exc) or type(exc).__name__


def _words(exc: BaseException) -> str:
    """An error's own text, without the errno and address tuples of OSError's form."""
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # "Connection refused", not asyncio's tuple form
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, aiosmtplib.SMTPConnectError) and isinstance(cause, OSError):
        return _words(cause)
    return " ".join(str(exc).split())
