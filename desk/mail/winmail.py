"""winmail.dat (application/ms-tnef): Outlook's wrapper around the files and body of a
mail, unpacked with tnefparse into the files the sender attached."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tnefparse import TNEF


@dataclass
class Unpacked:
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (name, data)
    body: str = ""
    html: str = ""


def is_tnef(content_type: str, filename: str) -> bool:
    return content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or (
        filename.lower() == "winmail.dat"
    )


def unpack(data: bytes) -> Unpacked:
    """The files (in order) and the body TNEF carries. Raises ValueError when `data` is
    not TNEF or is cut short; the caller keeps winmail.dat as it came, saying why."""
    try:
        tnef = TNEF(data, do_checksum=False)
    # struct.error: a TNEF cut inside a length or attribute header (unpack_from short).
    except (IndexError, KeyError, TypeError, UnicodeError, ValueError, struct.error) as exc:
        raise ValueError(f"winmail.dat could not be unpacked: {exc}") from exc
    found = Unpacked(body=_text(tnef.body), html=_text(tnef.htmlbody))
    for number, attachment in enumerate(tnef.attachments, start=1):
        payload = attachment.data
        if not isinstance(payload, bytes):
            continue
        found.files.append((_name(attachment) or f"attachment-{number}.bin", payload))
    return found


def _name(attachment: object) -> str:
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except Exception:  # tnefparse decodes names with the TNEF's code page; may not fit
        name = getattr(attachment, "_name", b"")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return str(name or "").rstrip("\x00").strip()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return str(value or "").rstrip("\x00")
