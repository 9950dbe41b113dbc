"""Files people upload through the API (ticket attachments, chat files): size and type are
checked before a byte is kept, and the bytes go to the content-addressed store."""

from __future__ import annotations

import asyncio
import time
from dataclasses import astuple, dataclass

import jwt

from desk.blobs import blob_path, image_type, store_blob
from desk.config import Settings
from desk.errors import DeskError, ValidationFailed
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


# How long files a refused form already sent stay usable by reference ("Send anyway" after
# the composer's warning): long enough to read a colleague's answer, not a day.
KEPT_SECONDS = 3600
KEPT_AUDIENCE = "postdesk-kept-uploads"


def kept_reference(settings: Settings, user_id: int, ticket_id: int, uploads: list[Upload]) -> str:
    """A signed reference to `uploads` (already in the blob store) for the person `user_id`
    on ticket `ticket_id`, good for KEPT_SECONDS: a refused form carries it back so the files
    go with the next post without being picked again. No table: a JWT (HS256 under the
    secret key, its own audience, so it is never an access token nor the reverse) holds the
    files' names and hashes and stops anyone from naming other blobs, someone else's files
    or another ticket."""
    claims = {
        "sub": str(user_id),
        "ticket": ticket_id,
        "files": [astuple(u) for u in uploads],
        "exp": int(time.time()) + KEPT_SECONDS,
        "aud": KEPT_AUDIENCE,
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def kept_uploads(settings: Settings, user_id: int, ticket_id: int, reference: str) -> list[Upload]:
    """The uploads `reference` names, if it was made for this person and ticket, has not
    expired and its files are still stored; ValidationFailed (field `files`) otherwise."""
    if not reference:
        return []
    again = "pick the files again"
    try:
        claims = jwt.decode(
            reference,
            settings.secret_key,
            algorithms=["HS256"],
            audience=KEPT_AUDIENCE,
            options={"require": ["exp", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        expired = f"the files kept from before have expired; {again}"
        raise ValidationFailed(expired, field="files") from None
    except jwt.InvalidTokenError:
        claims = {}
    if claims.get("sub") != str(user_id) or claims.get("ticket") != ticket_id:
        raise ValidationFailed(f"the files kept from before are not yours; {again}", field="files")
    uploads = [Upload(*fields) for fields in claims["files"]]
    if not all(blob_path(settings.attachments_dir, u.sha256).exists() for u in uploads):
        raise ValidationFailed(f"the files kept from before are gone; {again}", field="files")
    return uploads
