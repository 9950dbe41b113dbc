"""The work done off the event loop for one stored mail: parse within a CPU budget and put
attachments on disk by content hash. Runs in a worker process started by the daemon; its
answer is a plain value, `Parsed` or `Rejected` with the reason, never an exception."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from desk.blobs import store_blob
from desk.mail.bounces import Bounce, may_be_bounce, read_bounce
from desk.mail.parse import Limits, MailRejected, ParsedMail, Part, parse_mail


@dataclass
class StoredPart:
    filename: str
    content_type: str
    content_id: str
    is_inline: bool
    size: int
    sha256: str


@dataclass
class Parsed:
    mail: ParsedMail  # with parts emptied: their bytes are on disk
    stored_parts: list[StoredPart]
    bounce: Bounce | None = None  # what it reports, if it looks like a bounce


@dataclass(frozen=True)
class Rejected:
    """A mail that cannot become a ticket message: it is kept as `failed` with the reason."""

    reason: str


ParseResult = Parsed | Rejected


class CpuBudgetExceeded(MailRejected):
    pass


def prepare(raw: bytes, limits: Limits, attachments_dir: str) -> ParseResult:
    """Whatever the bytes, a bad mail comes back as `Rejected` naming why."""
    try:
        with cpu_budget(limits.cpu_seconds):
            mail = parse_mail(raw, limits)
            bounce = _bounce(raw, mail)
    except MailRejected as exc:
        return Rejected(str(exc))
    except (RecursionError, MemoryError) as exc:
        return Rejected(f"{type(exc).__name__} while parsing")
    except Exception as exc:
        return Rejected(f"parser error: {type(exc).__name__}: {exc}")
    stored = [_store_part(p.data, Path(attachments_dir), p) for p in mail.parts]
    mail.parts = []
    return Parsed(mail=mail, stored_parts=stored, bounce=bounce)


def _bounce(raw: bytes, mail: ParsedMail) -> Bounce | None:
    """Read as a bounce only what looks like one: the report is read from the raw bytes
    (flufl.bounce wants the whole message), which is not worth it for every mail."""
    return_path = mail.loop_headers.get("return-path", "")
    if not may_be_bounce(mail.content_type, mail.from_address or "", return_path, mail.subject):
        return None
    return read_bounce(raw)


def _store_part(data: bytes, root: Path, part: Part) -> StoredPart:
    digest = store_blob(root, data)
    return StoredPart(
        filename=part.filename,
        content_type=part.content_type,
        content_id=part.content_id,
        is_inline=part.is_inline,
        size=len(data),
        sha256=digest,
    )


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Interrupt parsing after `seconds` of CPU time (SIGPROF). Only possible in a main
    thread; elsewhere the daemon's wall-clock guard around the worker still applies."""

    def _expired(_signum: int, _frame: FrameType | None) -> None:
        raise CpuBudgetExceeded(f"parsing took more than {seconds:g}s of CPU time")

    try:
        previous = signal.signal(signal.SIGPROF, _expired)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
