"""Run-time settings (GET|PATCH /api/admin/settings/): stored in the database, checked,
audited, in effect at once for the mail the desk sends; the environment wins where it sets
one (here POSTDESK_ARCHIVE_AFTER_HOURS), and says so."""

from __future__ import annotations

import pytest

from desk.config import load_settings
from desk.context import open_desk
from desk.models import AuditEntry, OutboxMail
from tests.people import Team
from tests.support import make_mail, rows, send, settled, wait_for_value


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "POSTDESK_ARCHIVE_AFTER_HOURS": "48"}


async def test_defaults_sources_and_what_the_environment_locks(team: Team):
    status, body = await team.call("admin", "GET", "/api/admin/settings/")
    assert status == 200
    assert body["desk_name"] == "Support" and body["accent_colour"] == "#2563eb"
    assert body["archive_after_hours"] == 48 and body["auto_reply_per_hour"] == 10
    assert body["locked"] == ["archive_after_hours"]
    assert body["sources"] == {
        "desk_name": "default",
        "accent_colour": "default",
        "auto_reply_per_hour": "default",
        "archive_after_hours": "environment",
    }


async def test_a_change_applies_to_mail_at_once_and_is_audited(team: Team, daemon, sink, env):
    status, body = await team.call(
        "admin",
        "PATCH",
        "/api/admin/settings/",
        json={"desk_name": "Acme Help", "accent_colour": "#FF8800"},
    )
    assert status == 200 and body["desk_name"] == "Acme Help"
    assert body["accent_colour"] == "#ff8800" and body["sources"]["desk_name"] == "database"
    await send(daemon.smtp_port, make_mail(sender="fay@example.com")[0], sender="fay@example.com")
    [ack] = await wait_for_value(lambda: sink.to("fay@example.com"), what="acknowledgement")
    assert (
        ack["From"].startswith("Acme Help")
        and "Acme Help" in ack.get_body(("plain",)).get_content()
    )
    [entry] = await rows(daemon, AuditEntry, AuditEntry.action == "settings.changed")
    assert entry.actor_id == team.id("admin") and entry.target == "settings"
    assert entry.details["desk_name"] == {"from": None, "to": "Acme Help"}
    # Another process reads them when it starts (and within REFRESH_SECONDS when running).
    async with open_desk(load_settings(env, read_dotenv=False)) as other:
        assert other.settings.desk_name == "Acme Help"
        assert other.settings.archive_after_hours == 48
    status, body = await team.call(
        "admin", "PATCH", "/api/admin/settings/", json={"desk_name": None}
    )
    assert body["desk_name"] == "Support" and body["sources"]["desk_name"] == "default"
    assert body["accent_colour"] == "#ff8800"  # left out: kept


async def test_the_auto_reply_cap_takes_effect(team: Team, daemon):
    status, _ = await team.call(
        "admin", "PATCH", "/api/admin/settings/", json={"auto_reply_per_hour": 1}
    )
    assert status == 200
    for subject in ("first", "second"):
        raw, _ = make_mail(sender="gus@example.com", subject=subject)
        await send(daemon.smtp_port, raw, sender="gus@example.com")
    await settled(daemon, 2)
    acks = await rows(daemon, OutboxMail, OutboxMail.recipient == "gus@example.com")
    assert len(acks) == 1  # two new tickets; the second acknowledgement was over the cap


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"accent_colour": "red"}, 400, "accent_colour"),
        ({"accent_colour": "#12345"}, 400, "accent_colour"),
        ({"desk_name": "   "}, 400, "desk_name"),
        ({"auto_reply_per_hour": 0}, 400, "auto_reply_per_hour"),
        ({"auto_reply_per_hour": True}, 400, "auto_reply_per_hour"),
        ({"archive_after_hours": 12}, 409, "archive_after_hours"),
        ({"archive_after_hours": None}, 409, "archive_after_hours"),
        ({"logo_colour": "#000000"}, 400, "logo_colour"),
    ],
)
async def test_bad_or_locked_values_change_nothing(team: Team, daemon, change, status, field):
    got, body = await team.call(
        "admin", "PATCH", "/api/admin/settings/", json={"desk_name": "Changed", **change}
    )
    assert got == status, body
    assert field in str(body["details"])
    _, now = await team.call("admin", "GET", "/api/admin/settings/")
    assert now["desk_name"] == "Support"  # the good value in the same request was not kept
    assert await rows(daemon, AuditEntry, AuditEntry.action == "settings.changed") == []


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # the signature is what is checked


async def _put_logo(team: Team, data: bytes, kind: str) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {team.tokens['admin']}", "Content-Type": kind}
    url = f"{team.api.base}/api/admin/settings/logo/"
    async with team.api.http.put(url, data=data, headers=headers) as r:
        return r.status, await r.json()


async def test_the_logo_is_an_uploaded_image_served_inert(team: Team, api, daemon):
    status, _ = await api.call("GET", "/api/branding/logo/")
    assert status == 404
    status, body = await _put_logo(team, PNG, "image/png")
    assert status == 200 and body["content_type"] == "image/png" and body["size"] == len(PNG)
    _, now = await team.call("admin", "GET", "/api/admin/settings/")
    assert now["logo"]["url"] == body["url"] and body["url"].startswith("/api/branding/logo/")
    async with api.http.get(f"{api.base}{body['url']}") as r:  # anyone: sign-in page, mail
        assert r.status == 200 and await r.read() == PNG
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for data, kind in ((svg, "image/svg+xml"), (b"GIF89a" + b"\x00" * 300_000, "image/gif")):
        status, body = await _put_logo(team, data, kind)
        assert status == 400 and body["details"]["field"] == "body"
    async with api.http.get(f"{api.base}/api/branding/logo/") as r:
        assert await r.read() == PNG  # the refused uploads changed nothing
    status, _ = await team.call("admin", "DELETE", "/api/admin/settings/logo/")
    assert status == 204
    assert (await api.call("GET", "/api/branding/logo/"))[0] == 404
    assert (await team.call("admin", "DELETE", "/api/admin/settings/logo/"))[0] == 404
    actions = [e.action for e in await rows(daemon, AuditEntry)]
    assert actions == ["settings.logo_changed", "settings.logo_removed"]
