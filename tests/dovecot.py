"""A throw-away Dovecot IMAP server for tests (../shared/recipes/dovecot-test.conf), started
per test on a free port with its own mail folder, and an IMAP client to put mail in it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aioimaplib

from tests.support import free_port

USER, PASSWORD = "support", "imap-secret"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
default_internal_group = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
first_valid_uid = 1
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
    )


@dataclass
class Dovecot:
    root: Path
    port: int

    def url(self, mailbox: str = "INBOX", port: int | None = None) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{port or self.port}/{mailbox}"

    @classmethod
    def start(cls, binary: str) -> Dovecot:
        # Under /tmp with 755: the dovecot user must reach it (pytest's tmp_path is 700).
        root = Path(tempfile.mkdtemp(prefix="postdesk-dovecot-"))
        root.chmod(0o755)
        for name in ("run", "state", "mail"):
            (root / name).mkdir()
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        port = free_port()
        (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
        shutil.chown(root / "mail", "dovecot", "dovecot")
        subprocess.run([binary, "-c", str(root / "dovecot.conf")], check=True)
        return cls(root, port)

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    async def client(self) -> aioimaplib.IMAP4:
        for _ in range(50):  # the listener comes up a moment after the master forks
            try:
                client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
                await client.wait_hello_from_server()
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("Dovecot did not start listening")
        assert (await client.login(USER, PASSWORD)).result == "OK"
        return client

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        client = await self.client()
        try:
            assert (await client.append(raw, mailbox=mailbox)).result == "OK"
        finally:
            await client.logout()

    async def count(self, mailbox: str) -> int:
        """Messages in `mailbox` (0 if it does not exist)."""
        client = await self.client()
        try:
            status = await client.status(mailbox, "(MESSAGES)")
            if status.result != "OK":
                return 0
            text = b" ".join(bytes(x) for x in status.lines)
            return int(text.split(b"MESSAGES ", 1)[1].split(b")", 1)[0])
        finally:
            await client.logout()

    async def seen(self, mailbox: str) -> int:
        client = await self.client()
        try:
            await client.select(mailbox)
            found = await client.search("SEEN")
            return len(bytes(found.lines[0]).split())
        finally:
            await client.logout()
