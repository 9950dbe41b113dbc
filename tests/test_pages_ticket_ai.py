"""The composer's "AI draft" button, with Gemini configured (the stub of test_ai_drafts):
the draft lands in the composer, in place with the page's script and by a reload without
it, and nothing is sent."""

from __future__ import annotations

from desk.models import OutboxMail
from tests.pages import new_page, sign_in
from tests.people import PASSWORD, Team
from tests.support import rows
from tests.test_ai_drafts import GeminiStub, env, gemini  # noqa: F401 (fixtures)


async def test_the_ai_draft_lands_in_the_composer_and_is_not_sent(
    team: Team,
    daemon,
    chromium,
    gemini: GeminiStub,  # noqa: F811
):
    base = team.api.base
    ticket = await team.open_ticket("carol", subject="Printer jam")
    queued = len(await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket))
    page = await new_page(chromium)
    await sign_in(page, base, "agent1@localhost", PASSWORD)
    await page.goto(f"{base}/app/tickets/{ticket}/")
    await page.get_by_role("button", name="AI draft").click()
    await page.get_by_role("status").get_by_text("Draft ready").wait_for()
    assert await page.get_by_label("Message").input_value() == gemini.answer
    assert len(gemini.requests) == 1
    # Without the script the same button posts the form and the page comes back with it.
    context = await chromium.new_context(java_script_enabled=False)
    plain = await context.new_page()
    await sign_in(plain, base, "agent1@localhost", PASSWORD)
    await plain.goto(f"{base}/app/tickets/{ticket}/")
    async with plain.expect_navigation():
        await plain.get_by_role("button", name="AI draft").click()
    assert await plain.get_by_label("Message").input_value() == gemini.answer
    assert len(gemini.requests) == 2
    assert len(await rows(daemon, OutboxMail, OutboxMail.ticket_id == ticket)) == queued
