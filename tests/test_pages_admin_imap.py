"""The console's IMAP mailboxes against a real Dovecot: what the running pollers wrote to
the database (any replica's web process reads it there) is shown per configured mailbox,
one syncing with its last sync, one that cannot connect with its error; never a password."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.lifecycle import Running
from desk.imap_mailboxes import mailbox_states
from tests.dovecot import PASSWORD as IMAP_PASSWORD
from tests.dovecot import Dovecot
from tests.pages import new_page, serious_violations, sign_in
from tests.people import PASSWORD, Team
from tests.support import free_port, wait_for

CLOSED = free_port()  # nothing listens here


@pytest.fixture
def env(env: dict[str, str], dovecot: Dovecot) -> dict[str, str]:
    dead = f"imap://nobody:not-shown@127.0.0.1:{CLOSED}/INBOX"
    return {**env, "POSTDESK_IMAP_URLS": f"{dovecot.url()},{dead}"}


async def _reported(daemon: Running) -> list[dict[str, Any]] | None:
    good, dead = await mailbox_states(daemon.desk.db, daemon.desk.settings.imap_urls)
    return [good, dead] if good["last_sync_at"] and dead["last_error"] else None


async def test_each_mailbox_shows_its_last_sync_and_error(
    team: Team, daemon: Running, dovecot: Dovecot, chromium: Any
) -> None:
    good, dead = await wait_for(lambda: _reported(daemon), what="both pollers' reports")
    assert good["state"] == "syncing" and good["last_error"] is None
    assert dead["state"] == "failing" and dead["last_sync_at"] is None
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "admin@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/admin/integrations")
    good_row = page.get_by_role("row", name=f"support@127.0.0.1:{dovecot.port}/INBOX")
    assert "syncing" in await good_row.inner_text()
    assert await good_row.locator("time").inner_text() in ("just now", "1 min ago")
    dead_row = page.get_by_role("row", name=f"nobody@127.0.0.1:{CLOSED}/INBOX")
    text = await dead_row.inner_text()
    assert "failing" in text and "never" in text and "Connection" in text, text
    content = await page.content()
    assert IMAP_PASSWORD not in content and "not-shown" not in content
    assert await serious_violations(page) == []
    # The API answers the same state (GET /api/admin/imap-mailboxes/, admins only).
    status, listed = await team.call("admin", "GET", "/api/admin/imap-mailboxes/")
    assert status == 200 and [b["state"] for b in listed["results"]] == ["syncing", "failing"]
    assert "not-shown" not in str(listed)
    assert (await team.call("agent1", "GET", "/api/admin/imap-mailboxes/"))[0] == 403
