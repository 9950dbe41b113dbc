"""Settings an admin changes while the desk runs (GET|PATCH /api/admin/settings/): the desk's
name and accent colour (pages and outgoing mail), the hourly cap on automatic mail to one
address, and how long finished tickets wait before they are archived.

They are stored in `desk_settings`; a value the environment sets wins and is locked (an
operator who fixed it in the deployment keeps it fixed). The effective values are the
Desk's `settings`, rebuilt from the environment's and the stored ones: at once in the
process that changed them, in every other process within REFRESH_SECONDS (the inbound
worker, the archive job and the web server look before they use them)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from desk.audit import audit
from desk.brand_logo import LOGO, described, logo_info
from desk.config import COLOUR, Settings
from desk.db import Database
from desk.errors import Conflict, ValidationFailed
from desk.mail.headers import clean_header_text
from desk.models import DeskSetting, User, utcnow

if TYPE_CHECKING:  # desk.context builds the Desk with refresh(): no import at run time
    from desk.context import Desk

log = logging.getLogger(__name__)
REFRESH_SECONDS = 30.0


def _name(value: Any) -> str:
    # It is a From display name and a subject: no line breaks, no control characters.
    text = clean_header_text(value, limit=100).strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError("a name of 1 to 100 characters")
    return text


def _colour(value: Any) -> str:
    if not isinstance(value, str) or not COLOUR.fullmatch(value.strip()):
        raise ValueError("a colour as #rrggbb")
    return value.strip().lower()


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value

    return check


@dataclass(frozen=True)
class Runtime:
    environment: str  # the variable that, when set, locks it
    check: Callable[[Any], Any]  # the value as stored, or ValueError saying what is wanted


RUNTIME: dict[str, Runtime] = {
    "desk_name": Runtime("POSTDESK_DESK_NAME", _name),
    "accent_colour": Runtime("POSTDESK_ACCENT_COLOUR", _colour),
    "auto_reply_per_hour": Runtime("POSTDESK_AUTO_REPLY_PER_HOUR", _whole(1, 1000)),
    "archive_after_hours": Runtime("POSTDESK_ARCHIVE_AFTER_HOURS", _whole(1, 24 * 366)),
}


def locked(environment: Settings) -> set[str]:
    return {n for n, r in RUNTIME.items() if r.environment in environment.from_environment}


async def stored(db: Database) -> dict[str, Any]:
    """The stored values that are still valid (one written by an older version and no
    longer accepted is left out, with a warning)."""
    return valid(await _rows(db))


async def _rows(db: Database) -> list[DeskSetting]:
    async with db.reader() as session:
        return list(await session.scalars(select(DeskSetting)))


def valid(rows: list[DeskSetting]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for row in rows:
        if row.name not in RUNTIME:
            continue
        try:
            found[row.name] = RUNTIME[row.name].check(row.value)
        except ValueError:
            log.warning("stored setting %s=%r is not valid; ignored", row.name, row.value)
    return found


def effective(environment: Settings, values: dict[str, Any]) -> Settings:
    """The environment's settings with the stored values that are not locked."""
    fixed = locked(environment)
    return replace(environment, **{k: v for k, v in values.items() if k not in fixed})


async def refresh(desk: Desk) -> None:
    """Re-read the stored settings and the logo (one SELECT)."""
    rows = await _rows(desk.db)
    desk.settings = effective(desk.environment, valid(rows))
    desk.logo = next((described(r.value) for r in rows if r.name == LOGO), None)
    desk.settings_read_at = time.monotonic()


async def refresh_if_stale(desk: Desk) -> None:
    """Re-read the stored values when they are older than REFRESH_SECONDS (one small
    SELECT at most that often per process), so a change made elsewhere takes effect."""
    if time.monotonic() - desk.settings_read_at >= REFRESH_SECONDS:
        await refresh(desk)


async def describe(desk: Desk) -> dict[str, Any]:
    """The values in effect, where each comes from (`environment`, `database` or
    `default`), and which are locked by the environment."""
    values = await stored(desk.db)
    desk.settings = effective(desk.environment, values)
    fixed = locked(desk.environment)
    sources = {
        n: "environment" if n in fixed else "database" if n in values else "default"
        for n in RUNTIME
    }
    return {
        **{n: getattr(desk.settings, n) for n in RUNTIME},
        "logo": await logo_info(desk.db),  # desk/brand_logo.py; null: none
        "sources": sources,
        "locked": sorted(fixed),
    }


async def change(desk: Desk, admin: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply an admin's PATCH: a value is checked and stored, null goes back to the
    environment's or default value. ValidationFailed names a bad value, Conflict a locked
    one; nothing is stored unless all are good. Audited with the old and new values."""
    unknown = sorted(set(changes) - set(RUNTIME))
    if unknown:
        raise ValidationFailed(f"no run-time setting {unknown[0]}", field=unknown[0])
    fixed = locked(desk.environment)
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in fixed:
            raise Conflict(
                f"{name} is set by {RUNTIME[name].environment} in the environment", field=name
            )
        try:
            checked[name] = None if value is None else RUNTIME[name].check(value)
        except ValueError as exc:
            raise ValidationFailed(f"{name} must be {exc}", field=name) from None
    before = await stored(desk.db)
    async with desk.db.writer() as session:
        for name, value in checked.items():
            await session.execute(delete(DeskSetting).where(DeskSetting.name == name))
            if value is not None:
                session.add(
                    DeskSetting(name=name, value=value, updated_at=utcnow(), updated_by=admin.id)
                )
        diff = {n: {"from": before.get(n), "to": v} for n, v in checked.items()}
        audit(session, admin, "settings.changed", "settings", diff)
    return await describe(desk)
