"""The pages never grow wider than the screen: on a phone (390 px) and at 1280 px, the inbox,
a conversation, the admin's inbound detail and the People page keep to the viewport even
with ordinary long headers and with hostile data (a 200,000-character word in a mail, a
50,000-character subject, a name of thousands of letters). Long raw text scrolls inside its
own box instead of widening the page."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from typing import Any

from tests.pages import new_page, sign_in
from tests.people import PASSWORD, Team
from tests.support import send, settled

SUBJECT = "S" * 50_000
WORD = "w" * 200_000
SENDER = "alexandra.konstantinopoulou-wetherby@customer-services.example-company.com"


def _wide_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alexandra Konstantinopoulou-Wetherby <{SENDER}>"
    msg["To"] = "Support <support@localhost>"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.set_content(f"Hello,\n{WORD}\nthanks")
    return msg.as_bytes()


async def _page_width(chromium: Any, base: str, who: str, path: str, phone: bool) -> int:
    page = await new_page(chromium, phone=phone)
    await sign_in(page, base, f"{who}@localhost", PASSWORD)
    response = await page.goto(f"{base}{path}")
    assert response is not None and response.status == 200, path
    await page.wait_for_load_state()
    width = int(await page.evaluate("document.documentElement.scrollWidth"))
    await page.context.close()
    return width


async def test_no_page_is_wider_than_the_screen(team: Team, daemon, make_user, chromium):
    await send(daemon.smtp_port, _wide_mail(), sender=SENDER)
    [mail] = await settled(daemon, 1)
    assert mail.ticket_id is not None, mail.error
    await make_user("long@localhost", "agent", name="Name" + "n" * 3_000)
    base = team.api.base
    pages = [
        ("agent1", "/app/"),
        ("agent1", f"/app/tickets/{mail.ticket_id}/"),
        ("admin", f"/app/admin/mail/inbound/{mail.id}"),
        ("admin", "/app/admin/people"),
    ]
    for phone, viewport in ((True, 390), (False, 1280)):
        for who, path in pages:
            width = await _page_width(chromium, base, who, path, phone)
            assert width <= viewport, f"{path} is {width} px wide at {viewport} px"
