"""`postdesk backup` while mail is arriving, then `postdesk restore` into an empty data
folder (and, on PostgreSQL, an empty database): every ticket is there, with every
attachment's file, byte for byte. The commands run as an operator runs them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.lifecycle import Running
from desk.blobs import blob_path
from desk.config import load_settings
from desk.context import open_desk
from desk.models import Attachment, Ticket
from tests.conftest import _database
from tests.support import free_port, send, settled


def _mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <c{n}@example.com>"
    msg["To"] = "support@localhost"
    msg["Subject"] = f"Broken thing {n}"
    msg["Message-ID"] = f"<backup-{n}@example.com>"
    msg.set_content(f"Photo {n} attached.")
    msg.add_attachment(
        f"photo {n} ".encode() * 200, "application", "octet-stream", filename="p.bin"
    )
    return msg.as_bytes()


async def _postdesk(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("postdesk")),
        *args,
        env={**os.environ, **env},
        cwd=cwd,  # no .env of the working tree is read
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode(errors="replace")


def _private(path: Path) -> bool:
    return path.stat().st_mode & 0o777 == 0o600


async def test_backup_while_mail_arrives_and_restore_into_an_empty_folder(
    daemon: Running, env: dict[str, str], backend: str, tmp_path: Path
):
    for n in range(5):
        await send(daemon.smtp_port, _mail(n), sender=f"c{n}@example.com")
    await settled(daemon, 5)
    stop, arriving = asyncio.Event(), []

    async def keep_sending() -> None:
        n = 100
        while not stop.is_set():
            await send(daemon.smtp_port, _mail(n), sender=f"c{n}@example.com")
            arriving.append(n)
            n += 1

    sender = asyncio.create_task(keep_sending())
    code, output = await _postdesk(env, tmp_path, "backup", str(tmp_path / "backup"))
    stop.set()
    await sender
    assert code == 0, output
    assert arriving, "no mail arrived during the backup"
    # the database and its copy hold every mail and password hash: the owner's only
    backed_up = [p for p in (tmp_path / "backup").iterdir() if p.suffix in (".db", ".pgdump")]
    assert backed_up and all(_private(p) for p in backed_up)
    if backend == "sqlite":
        assert _private(daemon.desk.settings.data_dir / "postdesk.db")

    async with _database(backend, migrated=False) as empty_database:
        restored = {
            **env,
            "POSTDESK_DATA_DIR": str(tmp_path / "restored"),
            "POSTDESK_HTTP_PORT": str(free_port()),
            "POSTDESK_SMTP_PORT": str(free_port()),
        }
        if empty_database:
            restored["POSTDESK_DATABASE_URL"] = empty_database
        code, output = await _postdesk(restored, tmp_path, "restore", str(tmp_path / "backup"))
        assert code == 0, output
        settings = load_settings(restored, read_dotenv=False)
        async with open_desk(settings) as desk, desk.db.reader() as session:
            subjects = set(await session.scalars(select(Ticket.subject)))
            attachments = list(await session.scalars(select(Attachment)))
    if backend == "sqlite":
        assert _private(settings.data_dir / "postdesk.db")
    assert {f"Broken thing {n}" for n in range(5)} <= subjects
    assert len(attachments) >= 5 and len(attachments) == len(subjects)
    for attachment in attachments:
        data = blob_path(settings.attachments_dir, attachment.sha256).read_bytes()
        assert hashlib.sha256(data).hexdigest() == attachment.sha256


async def test_restore_refuses_a_folder_that_is_not_empty(
    daemon: Running, env: dict[str, str], tmp_path: Path
):
    code, output = await _postdesk(env, tmp_path, "backup", str(tmp_path / "b"))
    assert code == 0, output
    code, output = await _postdesk(env, tmp_path, "backup", str(tmp_path / "b"))
    assert code == 1 and "not an empty folder" in output  # a failed command, not a start
    code, output = await _postdesk(env, tmp_path, "restore", str(tmp_path / "nothing"))
    assert code == 1 and "no postdesk backup" in output


async def test_without_pg_dump_the_command_says_what_to_run(
    env: dict[str, str], backend: str, tmp_path: Path
):
    """PostgreSQL backups need the client tools; a machine without them gets one line naming
    the package and the command to run by hand, never the database's password."""
    if backend == "sqlite":
        pytest.skip("SQLite backups use SQLite's own backup API: no tool to miss")
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    url = env["POSTDESK_DATABASE_URL"].replace("postgres@", "postgres:db-password@")
    lacking = {**env, "PATH": str(no_tools), "POSTDESK_DATABASE_URL": url}
    code, output = await _postdesk(lacking, tmp_path, "backup", str(tmp_path / "b"))
    assert code == 2, output
    assert output.strip().splitlines() == [
        "postdesk: pg_dump is not installed (Debian: apt-get install postgresql-client); run it "
        f"yourself: pg_dump --format=custom --file={tmp_path / 'b' / 'postdesk.pgdump'} "
        "'<database URL>'"
    ]
