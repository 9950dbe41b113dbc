"""`postdesk backup PATH` and `postdesk restore PATH`: the database and the data folder's
files (attachments, the generated secret) as one folder, taken while the daemon runs.

SQLite: the online backup API (sqlite3.Connection.backup) copies a consistent snapshot page
by page while writers go on. The database is copied before the attachments: a file is
written (fsync'd) before the row naming it commits, so every attachment the snapshot names
is on disk by the time the folder is copied (newer files ride along, harmlessly).
PostgreSQL: pg_dump's custom format (one consistent snapshot) and pg_restore, when they are
installed; otherwise the message names the commands to run."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess  # pg_dump/pg_restore, with argument lists, never a shell
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from desk.config import Settings
from desk.errors import DeskError
from desk.private_files import private_file

MANIFEST = "postdesk-backup.json"
SQLITE_FILE, PG_FILE, ATTACHMENTS, SECRET = (
    "postdesk.db",
    "postdesk.pgdump",
    "attachments",
    "secret_key",
)
PAGES_PER_STEP = 1024  # the copy yields to writers between steps of this many pages


class BackupError(DeskError):
    code = "backup_failed"


class ToolMissing(BackupError):
    """The machine lacks a client tool (pg_dump, pg_restore): exit code 2, as a start the
    machine does not allow (README "Starting and stopping")."""


@dataclass(frozen=True)
class Summary:
    database: str  # "sqlite" | "postgresql"
    attachments: int

    def __str__(self) -> str:
        return f"{self.database} database and {self.attachments} attachment file(s)"


def back_up(settings: Settings, target: Path) -> Summary:
    """Write a backup into `target` (a new or empty folder). Raises BackupError."""
    _empty_folder(target, "back up into")
    kind = _kind(settings)
    if kind == "sqlite":
        private_file(target / SQLITE_FILE)
        _sqlite_copy(_sqlite_path(settings), target / SQLITE_FILE)
    else:
        private_file(target / PG_FILE)
        _pg_dump(settings, target / PG_FILE)
    files = _copy_tree(settings.attachments_dir, target / ATTACHMENTS)
    secret = settings.data_dir / SECRET
    if secret.is_file():  # the embedded default's generated key: tokens and reply addresses
        shutil.copy2(secret, target / SECRET)
    manifest = {"format": 1, "database": kind, "created_at": datetime.now(UTC).isoformat()}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Summary(kind, files)


def restore(settings: Settings, source: Path) -> Summary:
    """Restore the backup in `source` into this configuration's database and data folder,
    both of which must be empty (nothing is overwritten). Raises BackupError."""
    manifest = _manifest(source)
    kind = _kind(settings)
    if manifest["database"] != kind:
        raise BackupError(
            f"this is a backup of a {manifest['database']} database; POSTDESK_DATABASE_URL "
            f"names {kind}: restore it into the same kind"
        )
    if settings.attachments_dir.exists() and any(settings.attachments_dir.iterdir()):
        raise BackupError(f"{settings.attachments_dir} is not empty; restore into a new folder")
    if kind == "sqlite":
        path = _sqlite_path(settings)
        if path.exists():
            raise BackupError(f"{path} exists; restore into an empty data folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)
        _sqlite_copy(source / SQLITE_FILE, path)
    else:
        _pg_restore(settings, source / PG_FILE)
    files = _copy_tree(source / ATTACHMENTS, settings.attachments_dir)
    secret = settings.data_dir / SECRET
    if (source / SECRET).is_file() and not secret.exists():
        shutil.copy2(source / SECRET, secret)
        secret.chmod(0o600)
    return Summary(kind, files)


def _kind(settings: Settings) -> str:
    backend = make_url(settings.database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"no backup for a {backend} database")
    return backend


def _sqlite_path(settings: Settings) -> Path:
    return Path(make_url(settings.database_url).database or "").resolve()


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent snapshot even while the daemon writes."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=PAGES_PER_STEP)
    finally:
        dst.close()
        src.close()


def _copy_tree(source: Path, target: Path) -> int:
    """Copy the files under `source` (half-written `.part-*` files left out)."""
    count = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.name.startswith(".part-"):
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            count += 1
    return count


def _empty_folder(target: Path, doing: str) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty folder; give a new one to {doing}")
    target.mkdir(parents=True, exist_ok=True)


def _manifest(source: Path) -> dict[str, str]:
    try:
        data = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{source} holds no postdesk backup ({MANIFEST} missing)") from None
    return {k: str(v) for k, v in data.items()}


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """The URL as libpq's tools take it (no driver suffix, no password: that goes in
    PGPASSWORD, so `ps` does not show it) and their environment."""
    url = make_url(settings.database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str, command: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(
            f"{name} is not installed (Debian: apt-get install postgresql-client); "
            f"run it yourself: {command}"
        )
    return found


def _pg_dump(settings: Settings, target: Path) -> None:
    url, env = _libpq(settings)
    tool = _tool("pg_dump", f"pg_dump --format=custom --file={target} '<database URL>'")
    _run([tool, "--format=custom", "--no-owner", f"--file={target}", url], env, "pg_dump")


def _pg_restore(settings: Settings, source: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no {PG_FILE} in the backup")
    url, env = _libpq(settings)
    tool = _tool("pg_restore", f"pg_restore --no-owner --dbname='<database URL>' {source}")
    argv = [tool, "--no-owner", "--exit-on-error", f"--dbname={url}", str(source)]
    _run(argv, env, "pg_restore")


def _run(argv: list[str], env: dict[str, str], name: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{name} failed: {done.stderr.strip()[-500:]}")
