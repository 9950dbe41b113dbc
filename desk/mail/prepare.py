"""The work done off the event loop for one stored mail: parse within a CPU budget and put
attachments on disk by content hash. Runs in a worker process started by the daemon; its
answer is a plain value, never an exception: `Parsed`, also for a mail that could not be
read (then it carries the raw message as an attachment and a note saying why), or
`Rejected` with the reason when not even that could be stored."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from desk.blobs import store_blob
from desk.mail.bounces import Bounce, may_be_bounce, read_bounce
from desk.mail.headers import clean_header_text
from desk.mail.mime import Part
from desk.mail.parse import Limits, MailRejected, ParsedMail, cut_subject, parse_mail, with_notes
from desk.mail.unreadable import header_lines, ids_of, sender_of


@dataclass
class StoredPart:
    filename: str
    content_type: str
    content_id: str
    is_inline: bool
    size: int
    sha256: str
    damaged: bool = False
    damage_reason: str = ""
    forwarded_in: int | None = None  # index (among the mail's parts) of the .eml it came in


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
    """Whatever the bytes, the answer names what happened: a mail that does not parse is
    stored as unreadable (raw attached, reason noted)."""
    try:
        with cpu_budget(limits.cpu_seconds):
            mail = parse_mail(raw, limits)
            bounce = _bounce(raw, mail)
    except MailRejected as exc:
        return unreadable(raw, str(exc), attachments_dir)
    except (RecursionError, MemoryError) as exc:
        return unreadable(raw, f"{type(exc).__name__} while parsing", attachments_dir)
    except Exception as exc:
        return unreadable(raw, f"parser error: {type(exc).__name__}: {exc}", attachments_dir)
    return _stored(mail, attachments_dir, bounce)


def unreadable(raw: bytes, reason: str, attachments_dir: str) -> ParseResult:
    """A mail that could not be read (or was over a limit) as a message an agent sees: its
    subject, sender and ids from a cheap scan of the header lines, the raw message attached
    as message.eml, and a note saying why. Cheap and linear in the size of the mail."""
    try:
        mail = _unreadable_mail(raw, reason)
        return _stored(mail, attachments_dir)
    except Exception as exc:  # the disk: nothing more can be kept than the stored row
        return Rejected(f"{reason}; and it could not be kept as a ticket: {exc}")


def _unreadable_mail(raw: bytes, reason: str) -> ParsedMail:
    headers = header_lines(raw)
    name, address = sender_of(headers)
    message_id, in_reply_to, references = ids_of(headers)
    note = f"This mail could not be read ({reason}); the original is attached as message.eml"
    text = with_notes("", [note])
    return ParsedMail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        from_address=address,
        from_name=name,
        recipients=[],
        subject=cut_subject(clean_header_text(headers.get("subject", ""))),
        content_type="message/rfc822",
        loop_headers={},
        text=text,
        new_text=text,
        html="",
        parts=[Part("message.eml", "message/rfc822", "", False, raw)],
        notes=[note],
        unreadable=reason,
    )


def _stored(mail: ParsedMail, attachments_dir: str, bounce: Bounce | None = None) -> Parsed:
    stored = [_store_part(p, Path(attachments_dir)) for p in mail.parts]
    mail.parts = []
    return Parsed(mail=mail, stored_parts=stored, bounce=bounce)


def _bounce(raw: bytes, mail: ParsedMail) -> Bounce | None:
    """Read as a bounce only what looks like one: the report is read from the raw bytes
    (flufl.bounce wants the whole message), which is not worth it for every mail."""
    return_path = mail.loop_headers.get("return-path", "")
    if not may_be_bounce(mail.content_type, mail.from_address or "", return_path, mail.subject):
        return None
    return read_bounce(raw)


def _store_part(part: Part, root: Path) -> StoredPart:
    digest = store_blob(root, part.data)
    return StoredPart(
        filename=part.filename,
        content_type=part.content_type,
        content_id=part.content_id,
        is_inline=part.is_inline,
        size=len(part.data),
        sha256=digest,
        damaged=part.damaged,
        damage_reason=part.damage_reason[:500],
        forwarded_in=part.forwarded_in,
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
