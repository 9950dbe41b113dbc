"""Hands composed mail to the relay with aiosmtplib; says whether a failure is worth a retry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiosmtplib

from desk.mail.compose import needs_smtputf8


class TransientSendError(Exception):
    """4xx or network trouble: try again later."""


class PermanentSendError(Exception):
    """5xx: the relay will never take this mail."""


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

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> str:
        """Hand `raw` over for every recipient in one transaction; return the relay's answer
        to DATA (e.g. "2.0.0 Ok: queued as 4F1..."). A refusal of all of them raises; one
        the relay takes for some recipients counts as sent (SMTP semantics). A non-ASCII
        address or header goes with SMTPUTF8 (RFC 6531); a relay that does not offer it
        can never carry the mail (PermanentSendError saying so)."""
        utf8 = needs_smtputf8([sender, *recipients]) or not _header_block(raw).isascii()
        try:
            _refused, answer = await aiosmtplib.send(
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
            raise _classify(min(codes) if codes else 450, str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _classify(exc.code, exc.message) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            needing = [a for a in recipients if not a.isascii()] or ["a UTF-8 header"]
            raise PermanentSendError(
                "the relay does not offer SMTPUTF8 (RFC 6531), which this mail needs for "
                + ", ".join(needing)
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        return answer


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[:end]


def _classify(code: int, message: str) -> Exception:
    text = f"{code} {message}"
    return PermanentSendError(text) if 500 <= code < 600 else TransientSendError(text)
