"""The command line as an operator meets it, as a separate process: the version, a start
that cannot work (one line saying why, exit code 2), a stored mail looked at closely, the
outbox listed, and ids that do not exist."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from daemon.lifecycle import started
from desk.config import load_settings
from desk.models import InboundMail, OutboxMail
from tests.conftest import SECRET, _port_open, _unavailable
from tests.support import free_port, make_mail, rows, send, settled, wait_for
from tests.test_cli import postdesk


async def test_version():
    code, out, _ = await postdesk({}, "--version")
    assert code == 0 and out.startswith("postdesk 0.")


# -- a start that cannot work: one line on stderr, exit code 2 --------------------------------


@pytest.fixture
def plain_env(tmp_path: Path) -> dict[str, str]:
    """Settings for a daemon that never gets far: SQLite in a fresh folder, free ports."""
    return {
        "POSTDESK_DATA_DIR": str(tmp_path / "data"),
        "POSTDESK_SMTP_PORT": str(free_port()),
        "POSTDESK_HTTP_PORT": str(free_port()),
        "POSTDESK_SECRET_KEY": SECRET,
    }


async def refused_start(env: dict[str, str], **settings: str) -> str:
    """Run `postdesk run`; it must exit with 2 and say why in exactly one line."""
    code, _, err = await postdesk({**env, **settings}, "run")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("postdesk: "), err
    return lines[0]


def postgres_host() -> None:
    if not _port_open("127.0.0.1", 5432):
        _unavailable("PostgreSQL is not reachable on 127.0.0.1:5432")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "not a database URL"),
        ("mysql+aiomysql://u@db/x", "SQLite or PostgreSQL, not 'mysql'"),
        ("postgresql://u@db/x", "postgresql:// needs a synchronous driver"),
        ("postgresql+psycopg2://u:secret-pw@db/x", "needs the driver 'psycopg2'"),
        ("sqlite+aiosqlite://", "names no database"),
    ],
)
async def test_a_database_url_postdesk_cannot_use(plain_env, url, said):
    line = await refused_start(plain_env, POSTDESK_DATABASE_URL=url)
    assert said in line and "POSTDESK_DATABASE_URL" in line
    assert "postgresql+asyncpg://user:password@host:5432/name" in line  # the form to use
    assert "secret-pw" not in line


async def test_a_database_that_does_not_exist(plain_env):
    postgres_host()
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/pd_test_never_created"
    line = await refused_start(plain_env, POSTDESK_DATABASE_URL=url)
    assert "'pd_test_never_created' does not exist on PostgreSQL at 127.0.0.1:5432" in line
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres pd_test_never_created" in line


async def test_servers_that_refuse(plain_env):
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postdesk"
    line = await refused_start(plain_env, POSTDESK_DATABASE_URL=url)
    assert f"PostgreSQL at 127.0.0.1:{port} refuses connections" in line
    line = await refused_start(plain_env, POSTDESK_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert f"Redis at 127.0.0.1:{port} refuses connections (POSTDESK_REDIS_URL)" in line


@pytest.mark.parametrize(
    ("what", "setting"), [("SMTP", "POSTDESK_SMTP_PORT"), ("HTTP", "POSTDESK_HTTP_PORT")]
)
async def test_a_port_already_in_use(plain_env, what, setting):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = await refused_start(plain_env, **{setting: str(port)})
    assert line == f"postdesk: {what}: port {port} on 127.0.0.1 is already in use ({setting})"


async def test_a_data_folder_that_cannot_be_written(plain_env, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    folder = tmp_path / "a-file" / "data"
    line = await refused_start(plain_env, POSTDESK_DATA_DIR=str(folder))
    assert f"the data folder {folder} cannot be written" in line


# -- looking at stored mail -------------------------------------------------------------------


async def test_inbound_show_tells_headers_state_and_reason(daemon, env):
    hostile = b"Subject: nobody wrote this \x1b[31mred\x1b[0m\r\nX-Note: a\r\n b\r\n\r\nbody\r\n"
    await send(daemon.smtp_port, hostile, sender="")  # no sender anywhere: fails, with why
    good, mid = make_mail(subject="Printer on fire")
    await send(daemon.smtp_port, good)
    await settled(daemon, 2)
    failed, processed = await rows(daemon, InboundMail)

    code, out, err = await postdesk(env, "inbound", "show", str(failed.id))
    assert code == 0, err
    assert "failed" in out and failed.error in out
    assert "\x1b" not in out and "nobody wrote this \\x1b[31mred" in out  # escaped for the tty
    code, out, _ = await postdesk(env, "inbound", "show", str(processed.id), "--json")
    record = json.loads(out)
    assert record["state"] == "processed" and record["ticket_id"] == processed.ticket_id
    assert record["message_id"] == mid and record["error"] is None
    assert ["Subject", "Printer on fire"] in record["headers"]
    assert record["size"] == len(processed.raw)


async def test_unknown_ids_exit_non_zero_saying_so(daemon, env):
    for command in (("inbound", "show", "424242"), ("inbound", "retry", "424242")):
        code, out, err = await postdesk(env, *command)
        assert code == 1 and err.strip() == "postdesk: no inbound mail with id 424242", command
        assert out == ""


async def test_outbox_list_by_state(env, sink):
    """Intake only (no sender runs): the acknowledgement is queued; then sent."""
    settings = load_settings(env, read_dotenv=False)
    async with started(settings, role="smtp") as running:
        raw, _ = make_mail(sender="queued@example.com")
        await send(running.smtp_port, raw, sender="queued@example.com")
        await settled(running, 1)
        code, out, err = await postdesk(env, "outbox", "list", "--state", "queued")
        assert code == 0, err
        assert "queued" in out and "queued@example.com" in out and "1 message(s)" in out
        code, out, _ = await postdesk(env, "outbox", "list", "--state", "sent")
        assert out.strip() == "0 message(s)"
    async with started(settings, role="jobs") as sender:

        async def sent():
            return await rows(sender, OutboxMail, OutboxMail.state == "sent")

        await wait_for(sent, what="the acknowledgement sent")
    assert sink.to("queued@example.com")
    code, out, _ = await postdesk(env, "outbox", "list", "--state", "sent", "--json")
    [record] = [json.loads(line) for line in out.splitlines()]
    assert record["state"] == "sent" and record["recipient"] == "queued@example.com"
    assert record["kind"] == "acknowledgement" and record["sent_at"]
    code, out, _ = await postdesk(env, "outbox", "list", "--state", "failed")
    assert out.strip() == "0 message(s)"
    for state in ("pending", "sending", "suppressed"):  # every state a row can be in
        code, out, err = await postdesk(env, "outbox", "list", "--state", state)
        assert code == 0 and out.strip() == "0 message(s)", err
