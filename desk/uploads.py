"""Files people upload through the API (ticket attachments, chat files): size and type are
checked before a byte is kept, and the bytes go to the content-addressed store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from desk.blobs import image_type, store_blob
from desk.config import Settings
from desk.errors import DeskError
from desk.mail.headers import safe_filename

# Types a helpdesk conversation needs; anything else (executables, HTML, SVG with script)
# is refused. Downloads are served as attachments with nosniff in any case.
ALLOWED_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/json",
        "message/rfc822",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)
MAX_FILES = 10


def human_size(size: int) -> str:
    """A size limit as people say it: "10 MB", "512 KB", "1.5 GB" (binary units, as the
    limits are set: 10 MB is 10 * 1024 * 1024 bytes)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


class UploadTooLarge(DeskError):
    code = "too_large"
    status = 413


class UnsupportedType(DeskError):
    code = "unsupported_media_type"
    status = 415


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    size: int
    sha256: str
    image: str | None = None  # the image type its bytes begin with (desk.blobs.image_type)


def check_upload(settings: Settings, filename: str, content_type: str, size: int) -> None:
    if size > settings.upload_max_bytes:
        raise UploadTooLarge(
            f"“{filename}” is larger than {human_size(settings.upload_max_bytes)}",
            field="files",
            limit=settings.upload_max_bytes,
        )
    if content_type.split(";")[0].strip().lower() not in ALLOWED_TYPES:
        raise UnsupportedType(
            f"{content_type!r} is not accepted", field="files", allowed=sorted(ALLOWED_TYPES)
        )


async def keep_upload(settings: Settings, filename: str, content_type: str, data: bytes) -> Upload:
    """Check, then store the bytes (off the event loop: it fsyncs)."""
    check_upload(settings, filename, content_type, len(data))
    digest = await asyncio.to_thread(store_blob, settings.attachments_dir, data)
    return Upload(
        filename=safe_filename(filename),
        content_type=content_type.split(";")[0].strip().lower(),
        size=len(data),
        sha256=digest,
        image=image_type(data),
    )
