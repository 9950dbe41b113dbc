"""POSTDESK_DATABASE_URL: the forms postdesk accepts, checked when the settings are read, so
a mistyped URL is one line naming the fix instead of a traceback from the engine."""

from __future__ import annotations

import importlib.util

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from desk.errors import ConfigError

SETTING = "POSTDESK_DATABASE_URL"
ACCEPTED = (
    "sqlite+aiosqlite:////path/to/postdesk.db or postgresql+asyncpg://user:password@host:5432/name"
)
# The one driver postdesk runs each database with (both asynchronous).
DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
ALIASES = {"postgres": "postgresql", "pg": "postgresql", "sqlite3": "sqlite"}


def database_url_setting(raw: str) -> str:
    """`raw` if postdesk can use it; otherwise ConfigError saying what to write. Never
    shows the URL itself (it may hold a password)."""
    url = _parsed(raw)
    backend = url.get_backend_name()
    backend = ALIASES.get(backend, backend)
    if backend not in DRIVERS:
        raise ConfigError(
            SETTING, f"postdesk runs on SQLite or PostgreSQL, not {backend!r}; use {ACCEPTED}"
        )
    wanted = DRIVERS[backend]
    if url.drivername != f"{backend}+{wanted}":
        driver = url.drivername.partition("+")[2]
        needs = f"the driver {driver!r}" if driver else "a synchronous driver"
        raise ConfigError(
            SETTING,
            f"{url.drivername}:// needs {needs}, which postdesk does not use; "
            f"write {backend}+{wanted}://… ({ACCEPTED})",
        )
    if importlib.util.find_spec(wanted) is None:
        raise ConfigError(
            SETTING,
            f"the URL needs the driver {wanted!r}, which is not installed: pip install {wanted}",
        )
    if not url.database:
        raise ConfigError(SETTING, f"the URL names no database; use {ACCEPTED}")
    return raw


def _parsed(raw: str) -> URL:
    try:
        return make_url(raw)
    except (ArgumentError, ValueError):
        raise ConfigError(SETTING, f"not a database URL; use {ACCEPTED}") from None
