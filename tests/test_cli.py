"""The `postdesk` command line as an operator uses it, as a separate process."""

from __future__ import annotations

import asyncio
import json
import os
import sys

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
    assert code == 2 and "already exists" in err
    code, _, err = await postdesk(
        env, "adduser", "--email", "x@localhost", "--role", "agent", "--password", "short"
    )
    assert code == 2 and "8 characters" in err
    code, out, _ = await postdesk(env, "migrate")
    assert code == 0 and "up to date" in out


async def test_bad_setting_is_a_clear_error(env):
    code, _, err = await postdesk({**env, "POSTDESK_SMTP_PORT": "lots"}, "migrate")
    assert code == 2 and "POSTDESK_SMTP_PORT" in err
