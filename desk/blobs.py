"""Files kept under DATA_DIR/attachments, named by their SHA-256: the same bytes are stored
once, and no name a sender chose ever becomes part of a path."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def blob_path(root: Path, digest: str) -> Path:
    """Files are named by content hash only: the mail's own file name never touches a path."""
    return root / digest[:2] / digest[2:4] / digest


def store_blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(root, digest)
    if path.exists():
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return digest


def delete_blobs(root: Path, digests: set[str]) -> None:
    """Remove the files of `digests` (those no row names any more: the caller checks)."""
    for digest in digests:
        blob_path(root, digest).unlink(missing_ok=True)


def image_type(data: bytes) -> str | None:
    """The image type by its signature (PNG, JPEG, GIF, WebP), or None for anything else:
    what a file says it is does not make it an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
