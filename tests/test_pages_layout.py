"""The pages never grow wider than the screen: on a phone (390 px) and at 1280 px, the inbox,
a conversation, the admin's inbound detail and the People page keep to the viewport even
with ordinary long headers and with hostile data (a 200,000-character word in a mail, a
50,000-character subject, a name of thousands of letters). Long raw text scrolls inside its
own box instead of widening the page. At 375 px (the narrowest phones in use) every staff
page keeps to the screen too, with its header's links on the screen, the chart's dates
legible and the tables saying what each value is."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from typing import Any

from tests.pages import new_page, sign_in
from tests.people import PASSWORD, Team
from tests.support import make_mail, send, settled

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


# Every page under /app/ and /app/admin/ a person opens from a link (the ids filled in).
STAFF_PAGES = [
    ("agent1", "/app/"),
    ("agent1", "/app/tickets/{ticket}/"),
    ("agent1", "/app/saved-replies/"),
    ("agent1", "/app/chat/"),
    ("agent1", "/app/notifications"),
    ("admin", "/app/admin/"),
    ("admin", "/app/admin/people"),
    ("admin", "/app/admin/people/companies"),
    ("admin", "/app/admin/mail"),
    ("admin", "/app/admin/mail/inbound/{mail}"),
    ("admin", "/app/admin/integrations"),
    ("admin", "/app/admin/integrations/webhooks/{hook}"),
    ("admin", "/app/admin/settings"),
]
# Elements whose right edge is past the viewport, for the failure message.
OVERFLOWING = """(width) => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 0.5)
  .slice(0, 8).map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' +
    Math.round(e.getBoundingClientRect().right))"""


async def test_every_staff_page_fits_375_pixels(team: Team, daemon, make_user, chromium):
    raw, _ = make_mail(subject="A customer's question")
    await send(daemon.smtp_port, raw)
    [mail] = await settled(daemon, 1)
    t = mail.ticket_id
    assign = {"assigned_agent": team.id("agent1")}
    assert (await team.call("admin", "POST", f"/api/tickets/{t}/assign/", json=assign))[0] == 200
    done = {"status": "RESOLVED"}
    assert (await team.call("agent1", "POST", f"/api/tickets/{t}/set-status/", json=done))[0] == 200
    body = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    _, hook = await team.call("admin", "POST", "/api/webhooks/", json=body)
    ids = {"ticket": mail.ticket_id, "mail": mail.id, "hook": hook["id"]}
    # A long name in the header, as real people have (the header shows who is signed in).
    await make_user("alexandra@localhost", "admin", name="Alexandra Konstantinopoulou-Wetherby")
    for who in ("agent1", "alexandra"):
        context = await chromium.new_context(viewport={"width": 375, "height": 812})
        page = await context.new_page()
        await sign_in(page, team.api.base, f"{who}@localhost", PASSWORD)
        for _, path in [p for p in STAFF_PAGES if p[0] == who or who == "alexandra"]:
            response = await page.goto(team.api.base + path.format(**ids))
            assert response is not None and response.status == 200, path
            width = int(await page.evaluate("document.documentElement.scrollWidth"))
            assert width <= 375, (path, width, await page.evaluate(OVERFLOWING, 375))
            assert await page.evaluate(OVERFLOWING, 375) == [], path
            for link in await page.locator("header.top a").all():  # the nav on the screen
                box = await link.bounding_box()
                assert box is not None and box["x"] + box["width"] <= 375.5, (path, box)
            if path == "/app/admin/":
                await _chart_and_tables_read(page)
        await context.close()


async def _chart_and_tables_read(page: Any) -> None:
    """The chart's dates at a legible size (10 px or more as drawn), and each value of the
    Resolution table named by its column header on a phone, where the headers row goes."""
    sizes = await page.locator(".chart .axis text").evaluate_all(
        "ts => ts.map(t => t.getBoundingClientRect().height)"
    )
    assert sizes and min(sizes) >= 10, sizes
    cells = page.locator("table.tickets tbody tr").first.locator("td")
    labels = await cells.evaluate_all(
        "tds => tds.map(td => getComputedStyle(td, '::before').content)"
    )
    assert len(labels) == 4 and all(x not in ("none", "normal", '""') for x in labels), labels


async def test_a_long_subject_does_not_squeeze_the_inbox_s_short_columns(
    team: Team, daemon, chromium
):
    """Found by a tester at 1280 px: one long unbroken subject left the other columns two or
    three letters wide ("op/en", "me/diu/m"). Each status and priority stays on one line."""
    await send(daemon.smtp_port, make_mail(subject="S" * 1_200)[0], sender=SENDER)
    await settled(daemon, 1)
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/")
    lines = await page.evaluate(
        """() => [...document.querySelectorAll('table.tickets .status, table.tickets .priority')]
             .map(e => e.getClientRects().length)"""
    )
    await page.context.close()
    assert lines and set(lines) == {1}, lines


# Where each element's text goes onto a new line: [text, the character before each break].
LINE_ENDS = """(els) => els.map((e) => {
  const chars = [], range = document.createRange();
  const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      chars.push([node.data[i], Math.round(range.getBoundingClientRect().top)]);
    }
  }
  const ends = chars.slice(1).flatMap(([, top], i) => (top > chars[i][1] ? [chars[i][0]] : []));
  return [e.textContent, ends];
})"""


async def test_the_inbox_s_headers_keep_their_words_and_addresses_break_at_their_dots(
    team: Team, daemon, chromium
):
    """Found by a tester at 1280 px: "Statu s", "Priorit y", "Assigne e" in the header row
    and "carol@example.co m" under Customer, beside a long subject. Headers stay whole;
    an address breaks after its @, a dot or a hyphen, not inside a word."""
    await send(daemon.smtp_port, make_mail(subject="S" * 1_200, sender=SENDER)[0], sender=SENDER)
    await settled(daemon, 1)
    await team.open_ticket("carol", subject="Short one")
    waiting = await team.open_ticket("carol", subject="Waiting one")
    mine = {"assigned_agent": team.id("agent1")}
    assert (await team.call("agent1", "POST", f"/api/tickets/{waiting}/assign/", json=mine))[
        0
    ] == 200
    done = {"status": "WAITING_ON_CUSTOMER"}
    code, _ = await team.call("agent1", "POST", f"/api/tickets/{waiting}/set-status/", json=done)
    assert code == 200
    page = await new_page(chromium)
    await sign_in(page, team.api.base, "agent1@localhost", PASSWORD)
    await page.goto(f"{team.api.base}/app/")
    headers = await page.locator("table.tickets th").evaluate_all(LINE_ENDS)
    emails = await page.locator("table.tickets .email").evaluate_all(LINE_ENDS)
    width = int(await page.evaluate("document.documentElement.scrollWidth"))
    assert width <= 1280
    # Whole headers and words must still fit the narrower windows above the phone layout.
    for view in ("unassigned", "waiting"):
        for narrow in (701, 760, 850, 950):
            await page.set_viewport_size({"width": narrow, "height": 900})
            await page.goto(f"{team.api.base}/app/?view={view}")
            width = int(await page.evaluate("document.documentElement.scrollWidth"))
            assert width <= narrow, (view, narrow, await page.evaluate(OVERFLOWING, narrow))
    await page.context.close()
    names = ["Ticket", "Customer", "Status", "Priority", "Assignee", "Age"]
    assert headers == [[name, []] for name in names]
    assert {text for text, _ in emails} >= {SENDER, "carol@example.com"}
    for text, ends in emails:
        assert all(c in "@.-" for c in ends), (text, ends)
