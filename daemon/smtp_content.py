"""One message's content as the SMTP listener reads it in the DATA phase (daemon/smtp.py):
where it ends, what is kept, and where it is kept while it arrives.

- DATA ends only at CRLF.CRLF (RFC 5321 4.1.1.4): a dot line after a bare LF or a bare CR is
  content, so a second mail cannot be smuggled inside the first (CVE-2023-51764 and kin).
- A dot the sender added at the start of a line is removed (RFC 5321 4.5.2); a line starts
  after CRLF, as SMTP defines lines.
- Bare LF line ends are normalised to CRLF, and lines of any length are kept, as Postfix
  does (`smtpd_forbid_bare_newline = normalize`, no line length limit on content): web
  forms and scripts send such mail, and refusing it bounced real customers' mail.
- Content is held in memory up to a bound and written to a temporary file in the spool
  folder past it, so sessions stalled half way through large messages cost disk, not the
  daemon's memory. The file has no name (O_TMPFILE where the system offers it): nothing is
  left behind by a crash.

The size limit counts the octets as they came over the wire (dot-stuffing included), as
aiosmtpd's own reader does."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO

END = b".\r\n"  # with the CRLF before it, a line holding only a dot ends DATA
_END_LINE = b"\r\n" + END
FLUSH_BYTES = 64 * 1024  # once spooling, what is gathered before each write to the file


class MessageContent:
    """Raw DATA chunks in (`add`), the stored message out (`message`).

    Memory held: the raw octets not yet written, at most `memory_bytes` before the first
    write to the spool file and FLUSH_BYTES after it, plus the chunk being added. Close it
    (or use it as a context manager) to drop the spool file."""

    def __init__(self, *, limit: int, memory_bytes: int, spool_dir: Path | None) -> None:
        self.limit = limit  # 0: no limit
        self.received = 0  # octets of DATA read so far, the closing dot line included
        self.too_much = False  # over `limit`: read to the end and dropped
        self._hold = memory_bytes
        self._spool_dir = spool_dir
        self._pending = bytearray()  # raw octets not yet transformed
        self._before = b"\r\n"  # the two raw octets before `_pending`: a message starts a line
        self._file: IO[bytes] | None = None

    def __enter__(self) -> MessageContent:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def spooled(self) -> bool:
        """Whether part of the message is in the spool file."""
        return self._file is not None

    @property
    def in_memory(self) -> int:
        """Octets of this message held in memory now."""
        return len(self._pending)

    def add(self, chunk: bytes) -> bool:
        """Take the next chunk as read off the wire (a chunk that ends DATA ends with the
        dot line); True if it ended DATA."""
        self.received += len(chunk)
        self._pending += chunk
        if self.limit and self.received > self.limit + len(END):
            self._drop()
        if chunk.endswith(END) and self._tail() == _END_LINE:
            del self._pending[-len(END) :]
            return True
        if not self.too_much and len(self._pending) > self._hold:
            self._flush()
        return False

    def message(self) -> bytes:
        """The stored form of a message whose DATA has ended (not over the limit)."""
        assert not self.too_much
        last = _transform(self._before, self._pending)
        if self._file is None:
            return bytes(last)
        self._file.write(last)
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._pending = bytearray()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _tail(self) -> bytes:
        """The last five raw octets read (the length of CRLF.CRLF)."""
        if len(self._pending) >= len(_END_LINE):
            return bytes(self._pending[-len(_END_LINE) :])
        return (self._before + self._pending)[-len(_END_LINE) :]

    def _flush(self) -> None:
        """Write what is pending to the spool file (made on the first write)."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._spool_dir)  # closed by close()
            self._hold = FLUSH_BYTES
        self._file.write(_transform(self._before, self._pending))
        self._before = (self._before + self._pending[-2:])[-2:]
        self._pending.clear()

    def _drop(self) -> None:
        """Over the limit: keep only what may be part of the closing dot line."""
        tail = self._tail()
        if not self.too_much:
            self.too_much = True
            self.close()
        self._before, self._pending = tail[:2], bytearray(tail[2:])


def _transform(before: bytes, raw: bytes | bytearray) -> bytes | bytearray:
    """Raw DATA octets to stored content: stuffed dots removed, then bare LF made CRLF.
    `before` is the two raw octets that came before `raw` (a line start at a chunk's edge)."""
    text = raw.replace(b"\r\n.", b"\r\n")
    if before == b"\r\n" and text[:1] == b".":
        text = text[1:]
    elif before[-1:] == b"\r" and text[:2] == b"\n.":
        text = text[:1] + text[2:]
    return _crlf(text, after_cr=before[-1:] == b"\r")


def _crlf(text: bytes | bytearray, *, after_cr: bool) -> bytes | bytearray:
    """Bare LF to CRLF. A removed dot always follows an LF, so which LFs are bare is the
    same before and after unstuffing; `after_cr`: the octet before `text` was a CR."""
    if text.count(b"\n") == text.count(b"\r\n"):  # no bare LF, the usual case: no copy
        return text
    # Every LF once as CRLF, CRs not before an LF untouched: two passes at C speed (a
    # regular expression took ten times as long on a bare-LF mail).
    fixed = text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if after_cr and text[:1] == b"\n":  # not bare after all: its CR came in the last chunk
        fixed = fixed[1:]
    return fixed
