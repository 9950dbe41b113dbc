"""The desk's logo, for the portal, the console and mail: an image an admin uploads (never
a URL the server would fetch for them: that would let an admin's browser, or a stolen
admin token, make the server reach inside its network). Kept in the blob store by content
hash; the `desk_settings` row `logo` names it. Only PNG, JPEG, GIF and WebP, recognised by
their first bytes whatever the upload claims (SVG can carry script), and at most
MAX_LOGO_BYTES."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from desk.audit import audit
from desk.blobs import blob_path, image_type, store_blob
from desk.db import Database
from desk.errors import NotFound, ValidationFailed
from desk.models import DeskSetting, User, utcnow

if TYPE_CHECKING:
    from desk.context import Desk

MAX_LOGO_BYTES = 256 * 1024
LOGO = "logo"  # the desk_settings row
LOGO_PATH = "/api/branding/logo/"


async def logo_info(db: Database) -> dict[str, Any] | None:
    """{"url", "content_type", "size", "sha256"}, or None when there is no logo. The URL
    changes with the image, so it may be cached for long."""
    async with db.reader() as session:
        row = await session.get(DeskSetting, LOGO)
    return None if row is None else described(row.value)


def described(value: dict[str, Any]) -> dict[str, Any]:
    """The stored logo row's value with the `url` it is served at (it changes with the
    image, so it may be cached for long)."""
    return {**value, "url": f"{LOGO_PATH}?v={value['sha256'][:16]}"}


async def set_logo(desk: Desk, admin: User, data: bytes) -> dict[str, Any]:
    """Keep `data` as the logo (audited); ValidationFailed for anything but a small image."""
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed(f"the logo is larger than {MAX_LOGO_BYTES} bytes", field="body")
    kind = image_type(data)
    if kind is None:
        raise ValidationFailed("the logo must be a PNG, JPEG, GIF or WebP image", field="body")
    digest = store_blob(desk.settings.attachments_dir, data)
    value = {"sha256": digest, "content_type": kind, "size": len(data)}
    async with desk.db.writer() as session:
        await session.execute(delete(DeskSetting).where(DeskSetting.name == LOGO))
        session.add(DeskSetting(name=LOGO, value=value, updated_at=utcnow(), updated_by=admin.id))
        audit(session, admin, "settings.logo_changed", "settings", value)
    desk.logo = described(value)  # other processes see it when their settings go stale
    return desk.logo


async def remove_logo(desk: Desk, admin: User) -> None:
    async with desk.db.writer() as session:
        found = await session.scalar(select(DeskSetting.name).where(DeskSetting.name == LOGO))
        if found is None:
            raise NotFound("there is no logo")
        await session.execute(delete(DeskSetting).where(DeskSetting.name == LOGO))
        audit(session, admin, "settings.logo_removed", "settings")
    desk.logo = None


async def logo_file(desk: Desk) -> tuple[Path, str]:
    """Where the logo is kept and its type; NotFound when there is none."""
    info = await logo_info(desk.db)
    path = blob_path(desk.settings.attachments_dir, info["sha256"]) if info else None
    if info is None or path is None or not path.is_file():
        raise NotFound("there is no logo")
    return path, info["content_type"]
