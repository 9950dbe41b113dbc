"""The `postdesk` command line as an operator uses it, as a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from alembic.script import ScriptDirectory

from desk.db import alembic_config
from desk.models import InboundMail, User
from tests.support import make_mail, rows, send, settled, wait_for


async def postdesk(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_inbound_list_and_retry(daemon, env):
    await send(daemon.smtp_port, b"Subject: nobody wrote this\r\n\r\nbody\r\n", sender="")
    good, _ = make_mail()
    await send(daemon.smtp_port, good)

    await settled(daemon, 2)
    code, out, err = await postdesk(env, "inbound", "list", "--state", "failed", "--json")
    assert code == 0, err
    [failed] = [json.loads(line) for line in out.splitlines()]
    assert set(failed) == {"id", "message_id", "sender", "state", "error", "ticket_id"}
    assert failed["state"] == "failed" and "sender" in failed["error"]

    code, out, _ = await postdesk(env, "inbound", "list")
    assert code == 0 and "2 message(s)" in out and "processed" in out

    code, out, _ = await postdesk(env, "inbound", "retry", "--all-failed")
    assert code == 0 and out.startswith("1 message(s)")

    async def retried():
        [row] = await rows(daemon, InboundMail, InboundMail.id == failed["id"])
        return row if row.attempts == 2 and row.state == "failed" else None

    row = await wait_for(retried, what="the retried mail settled again")
    assert "sender" in row.error
    code, _, err = await postdesk(env, "inbound", "retry")
    assert code == 2 and "ID or --all-failed" in err


async def test_adduser_and_migrate(daemon, env):
    code, out, err = await postdesk(
        env,
        "adduser",
        "--email",
        "Ann@Localhost",
        "--role",
        "agent",
        "--password",
        "long enough pw",
        "--name",
        "Ann",
    )
    assert code == 0, err
    [ann] = await rows(daemon, User, User.email == "ann@localhost")
    assert ann.role == "agent" and ann.password_hash.startswith("$argon2id$")
    code, _, err = await postdesk(env, "adduser", "--email", "ann@localhost", "--role", "agent")
    assert code == 1 and err.strip() == "postdesk: a user with email ann@localhost already exists"
    code, _, err = await postdesk(
        env, "adduser", "--email", "x@localhost", "--role", "agent", "--password", "short"
    )
    assert code == 1 and "8 characters" in err
    code, out, _ = await postdesk(env, "migrate")
    assert code == 0 and out == "database is up to date\n"  # nothing left to apply


async def test_migrate_says_what_it_applied(tmp_path):
    env = {"POSTDESK_DATA_DIR": str(tmp_path / "fresh"), "POSTDESK_SECRET_KEY": "x" * 40}
    code, out, err = await postdesk(env, "migrate")
    assert code == 0, err
    first, last = out.splitlines()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert first.startswith("applied ") and first.endswith(f", {head}") and "0001" in first
    assert last == "database is up to date"
    assert (await postdesk(env, "migrate"))[1] == "database is up to date\n"


async def test_a_reader_that_goes_away_is_no_error(env):
    """`postdesk outbox list | head`: the pipe closes early; no traceback, exit 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    for command in (("outbox", "list"), ("inbound", "list")):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "daemon",
            *command,
            env={**os.environ, **env},
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0 and err.decode() == "", err
    os.close(write_end)


async def test_bad_setting_is_a_clear_error(env):
    code, _, err = await postdesk({**env, "POSTDESK_SMTP_PORT": "lots"}, "migrate")
    assert code == 2 and "POSTDESK_SMTP_PORT" in err
