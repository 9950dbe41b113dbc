"""Signing in to the pages: the form, the cookie, CSRF, sign-out, idle expiry, revocation
and the headers every page carries. Browser tests drive Chromium; the checks a browser
would hide (a forged post, a missing token) use a plain HTTP client."""

from __future__ import annotations

import re

import aiohttp
import time_machine

from desk.models.base import utcnow
from tests.pages import new_page, screenshot, serious_violations, sign_in
from tests.people import PASSWORD, Team


async def test_sign_in_lands_in_the_inbox_and_sign_out_ends_it(team: Team, chromium):
    base = team.api.base
    await team.open_ticket("carol", subject="Printer on fire")
    page = await new_page(chromium)
    await page.goto(f"{base}/")
    assert page.url == f"{base}/login"
    await sign_in(page, base, "agent1@localhost", "not the password")
    assert await page.get_by_role("alert").inner_text() == "Wrong email or password."
    await sign_in(page, base, "agent1@localhost", PASSWORD)
    assert page.url == f"{base}/app/"
    await page.get_by_role("link", name="All open").click()
    assert await page.get_by_role("link", name="Printer on fire").is_visible()
    assert await serious_violations(page) == []
    await screenshot(page, "inbox")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "postdesk_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    assert page.url == f"{base}/login"
    # The old cookie is dead on the server, not only forgotten by the browser.
    await page.context.add_cookies([cookie])
    await page.goto(f"{base}/app/")
    assert page.url.startswith(f"{base}/login")


async def test_the_login_page_passes_the_accessibility_check(team: Team, chromium):
    page = await new_page(chromium, phone=True)
    await page.goto(f"{team.api.base}/login")
    assert await serious_violations(page) == []
    await screenshot(page, "login-phone")


def _client() -> aiohttp.ClientSession:
    """A plain client that keeps cookies as a browser does (127.0.0.1 is an IP address,
    whose cookies aiohttp's default jar ignores)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _signed_in(http: aiohttp.ClientSession, base: str, email: str) -> str:
    """Sign in with a plain client as the form does; answers the page's CSRF token."""
    async with http.get(f"{base}/login") as r:
        token = _csrf(await r.text())
    form = {"email": email, "password": PASSWORD, "csrf_token": token, "next": ""}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    async with http.get(f"{base}/app/") as r:
        assert r.status == 200
        return _csrf(await r.text())


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_posts_without_the_csrf_token_are_refused(team: Team):
    base = team.api.base
    async with _client() as http:
        token = await _signed_in(http, base, "agent1@localhost")
        async with http.post(f"{base}/app/token") as r:
            assert r.status == 403
        async with http.post(f"{base}/app/token", headers={"X-CSRF-Token": "0" * 64}) as r:
            assert r.status == 403
        async with http.post(f"{base}/logout", data={"csrf_token": "forged"}) as r:
            assert r.status == 403
        async with http.post(f"{base}/app/token", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 200
            access = (await r.json())["access"]
        # The token is an ordinary access token of this session: the API takes it.
        assert (await team.api.call("GET", "/api/me/", access))[0] == 200
    # A sign-in form posted without its cookie (from another site) is refused too.
    async with _client() as http:
        form = {"email": "agent1@localhost", "password": PASSWORD, "csrf_token": "x"}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
            assert r.status == 403


async def test_deactivation_refuses_the_next_page(team: Team):
    base = team.api.base
    async with _client() as http:
        await _signed_in(http, base, "agent1@localhost")
        code, _ = await team.call(
            "admin", "PATCH", f"/api/admin/users/{team.id('agent1')}/", json={"is_active": False}
        )
        assert code == 200
        async with http.get(f"{base}/app/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_an_idle_browser_is_signed_out(team: Team):
    base = team.api.base
    async with _client() as http:
        await _signed_in(http, base, "agent1@localhost")
        with time_machine.travel(utcnow().timestamp() + 8 * 3600 + 60):
            async with http.get(f"{base}/app/", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/login?next=/app/"


async def test_pages_forbid_framing_and_inline_script(team: Team):
    base = team.api.base
    async with _client() as http:
        async with http.get(f"{base}/login") as r:
            csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_customers_are_kept_out_of_the_workspace_and_next_stays_on_site(team: Team):
    base = team.api.base
    async with _client() as http:
        async with http.get(f"{base}/login") as r:
            token = _csrf(await r.text())
        form = {
            "email": "agent1@localhost",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        }
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
            assert r.headers["Location"] == "/app/"
    async with _client() as http:
        await _customer_signed_in(http, base)
        async with http.get(f"{base}/app/", allow_redirects=False) as r:
            assert r.status == 403


async def _customer_signed_in(http: aiohttp.ClientSession, base: str) -> None:
    async with http.get(f"{base}/login") as r:
        token = _csrf(await r.text())
    form = {"email": "carol@example.com", "password": PASSWORD, "csrf_token": token}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        assert r.headers["Location"] == "/portal/"


async def test_pages_follow_the_brand_set_at_run_time(team: Team):
    base = team.api.base
    brand = {"desk_name": "Acme Help", "accent_colour": "#aa3300"}
    assert (await team.call("admin", "PATCH", "/api/admin/settings/", json=brand))[0] == 200
    async with _client() as http:
        async with http.get(f"{base}/login") as r:
            assert "Acme Help" in await r.text()
        async with http.get(f"{base}/brand.css") as r:
            assert r.content_type == "text/css" and "--accent: #aa3300" in await r.text()


async def test_next_is_only_a_plain_path_on_this_site(team: Team):
    """A tab survives in `/\\t/host` and browsers drop it (`//host`: another site); a line
    break would be a header injection. Both fall back to the start page."""
    base = team.api.base
    hostile = ["/\t/127.0.0.1:18599/phished", "/app/\r\nSet-Cookie:x", "/ /evil", "/\\evil"]
    for nxt in [*hostile, "/app/tickets/1/?view=mine"]:
        async with _client() as http:
            async with http.get(f"{base}/login", params={"next": nxt}) as r:
                assert r.status == 200
                page = await r.text()
            shown = re.search(r'name="next" value="([^"]*)"', page)
            assert shown is not None
            form = {"email": "agent1@localhost", "password": PASSWORD, "next": nxt}
            form["csrf_token"] = _csrf(page)
            async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
                assert r.status == 303
                expected = nxt if nxt.startswith("/app/tickets") else "/app/"
                assert r.headers["Location"] == expected
                assert shown.group(1) == (
                    "" if expected == "/app/" else "/app/tickets/1/?view=mine"
                )


async def test_a_lockout_typed_in_other_case_is_the_account_s_and_unlock_lifts_it(team: Team):
    """The sign-in page finds the account whatever the case of the email typed; its
    lockout must be that account's too, or the API, the locked mark and an admin's Unlock
    would all miss it."""
    base = team.api.base
    async with _client() as http:
        for _ in range(5):
            async with http.get(f"{base}/login") as r:
                token = _csrf(await r.text())
            form = {"email": " AGENT2@Localhost", "password": "wrong horse", "csrf_token": token}
            async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
                assert r.status in (200, 401)
    right = {"email": "agent2@localhost", "password": PASSWORD}
    assert (await team.api.call("POST", "/api/auth/token/", json=right))[0] == 429
    status, _ = await team.call("admin", "POST", f"/api/admin/users/{team.id('agent2')}/unlock/")
    assert status == 200
    assert (await team.api.call("POST", "/api/auth/token/", json=right))[0] == 200
