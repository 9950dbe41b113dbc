"""`/app/saved-replies/` in Chromium: an agent creates, edits and deletes a saved reply with
the API's rules (placeholders checked; another agent may read but not change it; forms need
the CSRF token); the page is linked from the header and the composer."""

from __future__ import annotations

from tests.pages import new_page, serious_violations, sign_in
from tests.people import PASSWORD, Team


async def _signed_in(team: Team, chromium, who: str):
    page = await new_page(chromium)
    await sign_in(page, team.api.base, f"{who}@localhost", PASSWORD)
    return page


async def test_an_agent_keeps_the_library_of_saved_replies(team: Team, chromium):
    page = await _signed_in(team, chromium, "agent1")
    await page.get_by_role("link", name="Saved replies").click()
    assert await page.get_by_text("{{ customer.first_name }}").is_visible()  # documented
    await page.get_by_label("Title", exact=True).fill("Thanks")
    await page.get_by_label("Text", exact=True).fill("Hi {{ customer.first_name }}, thanks!")
    await page.get_by_role("button", name="Save reply").click()
    assert await page.get_by_role("status").inner_text() == "Saved."
    await page.get_by_label("Text of Thanks").fill("Hello {{ customer.name }}, many thanks!")
    await page.get_by_role("button", name="Save Thanks").click()
    code, body = await team.call("agent1", "GET", "/api/saved-replies/")
    assert code == 200 and [r["body"] for r in body["results"]] == [
        "Hello {{ customer.name }}, many thanks!"
    ]
    assert await serious_violations(page) == []

    other = await _signed_in(team, chromium, "agent2")
    await other.goto(f"{team.api.base}/app/saved-replies/")
    assert await other.get_by_text("Hello {{ customer.name }}, many thanks!").is_visible()
    assert not await other.get_by_role("button", name="Delete Thanks").count()
    reply_id = body["results"][0]["id"]
    csrf = await other.locator("meta[name=csrf-token]").get_attribute("content")
    refused = await other.request.post(
        f"{team.api.base}/app/saved-replies/{reply_id}/delete", form={"csrf_token": csrf or ""}
    )
    assert refused.status == 403  # only its author or an admin

    await page.get_by_role("button", name="Delete Thanks").click()
    assert await page.get_by_role("status").inner_text() == "Deleted."
    code, body = await team.call("agent1", "GET", "/api/saved-replies/")
    assert code == 200 and body["results"] == []


async def test_unknown_placeholders_and_missing_csrf_are_refused(team: Team, chromium):
    page = await _signed_in(team, chromium, "agent1")
    await page.goto(f"{team.api.base}/app/saved-replies/")
    await page.get_by_label("Title", exact=True).fill("Bad")
    await page.get_by_label("Text", exact=True).fill("Hi {{ customer.password }}")
    response = await page.request.post(
        f"{team.api.base}/app/saved-replies/", form={"title": "Sneaky", "body": "x"}
    )
    assert response.status == 403
    await page.get_by_role("button", name="Save reply").click()
    assert await page.get_by_text("unknown placeholder").is_visible()
    code, body = await team.call("agent1", "GET", "/api/saved-replies/")
    assert code == 200 and body["results"] == []
