"""The desk's brand in outgoing mail (issue 18): every HTML mail, whoever queued it, shows the
accent colour and the logo an admin set at run time, through the real relay (the SMTP
sink); the logo travels in the mail as an inline image (cid:, multipart/related), the very
bytes uploaded, with no public address configured; no logo set, no image; the text part
stays plain; the environment still wins where it sets a value."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from daemon.lifecycle import started
from desk.config import load_settings
from desk.desk_settings import refresh
from desk.mail.compose import Outgoing, compose, template_environment
from desk.models import DeskSetting, utcnow
from tests.people import Team
from tests.support import Sink, make_mail, send, wait_for_value

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64  # the signature is what the upload checks
IMG = re.compile(r'<img src="([^"]+)"')


async def _mails(team: Team, daemon: Any, sink: Sink, who: str) -> list[EmailMessage]:
    """Two mails queued by different parts of the desk, as the relay received them: the
    acknowledgement of a new ticket by mail, and a sign-in code."""
    address = f"{who}@example.com"
    await send(daemon.smtp_port, make_mail(sender=address)[0], sender=address)
    [ack] = await wait_for_value(lambda: sink.to(address), what="the acknowledgement")
    code, _ = await team.call(None, "POST", "/api/auth/request-otp/", json={"email": address})
    assert code == 202
    found = await wait_for_value(lambda: sink.to(address)[1:], what="the sign-in code")
    return [ack, found[0]]


def _html(mail: EmailMessage) -> str:
    return str(mail.get_body(("html",)).get_content())  # type: ignore[union-attr]


def _text(mail: EmailMessage) -> str:
    return str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]


async def _put_logo(team: Team, data: bytes) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {team.tokens['admin']}", "Content-Type": "image/png"}
    url = f"{team.api.base}/api/admin/settings/logo/"
    async with team.api.http.put(url, data=data, headers=headers) as r:
        assert r.status == 200
        return dict(await r.json())


async def test_mail_shows_the_colour_and_logo_an_admin_sets(team: Team, daemon, sink, env):
    for mail in await _mails(team, daemon, sink, "before"):
        assert "#2563eb" in _html(mail)  # the default accent
        assert not IMG.search(_html(mail))  # no logo set: no image
    code, _ = await team.call(
        "admin", "PATCH", "/api/admin/settings/", json={"accent_colour": "#AA3300"}
    )
    assert code == 200
    logo = await _put_logo(team, PNG)
    for mail in await _mails(team, daemon, sink, "after"):
        html = _html(mail)
        assert "#aa3300" in html and "#2563eb" not in html
        [src] = IMG.findall(html)
        assert src.startswith("cid:") and "POSTDESK_PUBLIC_URL" not in env
        [image] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
        assert image["Content-ID"] == f"<{src[4:]}>" and image.get_content() == PNG
        related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
        assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
        assert logo["content_type"] == "image/png"
        text = _text(mail)
        assert "<" not in text and "#aa3300" not in text and "logo" not in text
    # The logo removed: mail has no image again.
    code, _ = await team.call("admin", "DELETE", "/api/admin/settings/logo/")
    assert code == 204
    for mail in await _mails(team, daemon, sink, "removed"):
        assert "#aa3300" in _html(mail) and not IMG.search(_html(mail))


async def test_the_environment_wins_over_a_stored_colour(env, sink):
    """An operator who fixed the colour in the deployment keeps it, whatever the database
    says (a value stored before the variable was set)."""
    settings = load_settings({**env, "POSTDESK_ACCENT_COLOUR": "#112233"}, read_dotenv=False)
    async with started(settings) as running:
        async with running.desk.db.writer() as session:
            session.add(DeskSetting(name="accent_colour", value="#aa3300", updated_at=utcnow()))
        await refresh(running.desk)
        address = "ops@example.com"
        await send(running.smtp_port, make_mail(sender=address)[0], sender=address)
        [ack] = await wait_for_value(lambda: sink.to(address), what="the acknowledgement")
    assert "#112233" in _html(ack) and "#aa3300" not in _html(ack)


def test_a_logo_whose_file_is_gone_leaves_the_mail_without_an_image(tmp_path):
    """The brand read before an admin removed the logo: the mail goes, without an image."""
    out = Outgoing(
        to_address="erin@example.com",
        to_name="Erin",
        from_name="Support",
        from_address="support@localhost",
        reply_to="support@localhost",
        subject="Hello",
        template="otp_code",
        context={
            "code": "123456",
            "minutes": 10,
            "desk_name": "Support",
            "brand": {
                "desk_name": "Support",
                "accent_colour": "#2563eb",
                "logo": {"path": str(tmp_path / "gone"), "content_type": "image/png"},
            },
        },
    )
    raw = compose(out, template_environment(), "<m1@localhost>")
    mail = BytesParser(policy=policy.default).parsebytes(raw)
    assert not IMG.search(_html(mail))  # type: ignore[arg-type]
    assert "image/png" not in {p.get_content_type() for p in mail.walk()}
