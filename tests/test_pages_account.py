"""Passwords from the browser: "Forgot password?" on the sign-in page mails the reset link
(the API's flow), a used or missing link says so when opened, and a signed-in customer
sets a password on the portal's account page (one who came in by code has none) or
changes it with the current one; every other session of the account ends."""

from __future__ import annotations

import re

import aiohttp

from daemon.lifecycle import Running
from tests.people import PASSWORD, Team
from tests.support import Sink, wait_for_value
from tests.test_pages_signin import _client, _csrf


async def _login_token(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}/login") as r:
        return _csrf(await r.text())


async def _password_sign_in(http: aiohttp.ClientSession, base: str, email: str, pw: str) -> int:
    form = {"email": email, "password": pw, "csrf_token": await _login_token(http, base)}
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        return r.status


async def _mailed(sink: Sink, address: str, pattern: str) -> str:
    def found() -> list[str]:
        texts = [m.get_body(("plain",)).get_content() for m in sink.to(address)]
        return [x for t in texts for x in re.findall(pattern, t)]

    return str((await wait_for_value(found, what=f"a mail to {address}"))[-1])


async def _account_page(http: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    async with http.get(f"{base}/portal/account", allow_redirects=False) as r:
        return r.status, await r.text()


async def test_forgot_password_mails_the_link_and_a_used_link_says_so_when_opened(
    team: Team, sink: Sink
):
    base = team.api.base
    async with _client() as http:
        form = {"email": "carol@example.com", "csrf_token": await _login_token(http, base)}
        async with http.post(f"{base}/login/reset", data=form) as r:
            assert r.status == 200
            assert "a link to set a new password is on its way" in await r.text()
        link = await _mailed(
            sink, "carol@example.com", r"https?://\S+/login/set-password\?token=\S+"
        )
        path = "/login/set-password?" + link.split("?", 1)[1]
        async with http.get(f"{base}{path}") as r:
            page = await r.text()
        assert r.status == 200 and 'name="password"' in page
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert token
        form = {
            "csrf_token": _csrf(page),
            "token": token.group(1),
            "password": "a brand new one",
            "confirm": "a brand new one",
        }
        async with http.post(f"{base}/login/set-password", data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/portal/"
        # Opened again, the used link says so at once and offers no form.
        async with http.get(f"{base}{path}") as r:
            page = await r.text()
        assert r.status == 400
        assert "This link is not valid (used, expired or replaced)." in page
        assert 'name="password"' not in page and 'href="/login#forgot"' in page
    async with _client() as http:
        assert await _password_sign_in(http, base, "carol@example.com", "a brand new one") == 303


async def test_set_password_without_a_token_says_so_even_when_signed_in(team: Team):
    async with _client() as http:
        base = team.api.base
        assert await _password_sign_in(http, base, "carol@example.com", PASSWORD) == 303
        async with http.get(f"{base}/login/set-password") as r:
            page = await r.text()
        assert r.status == 400 and "This link is not valid" in page
        assert 'name="password"' not in page and 'href="/portal/account"' in page


async def test_a_customer_who_came_by_code_sets_a_password_on_the_account_page(
    team: Team, daemon: Running, make_user, sink: Sink
):
    await make_user("erin@other.org", role="customer", password=None)
    base = team.api.base
    async with _client() as http:
        form = {"email": "erin@other.org", "csrf_token": await _login_token(http, base)}
        async with http.post(f"{base}/login/code", data=form) as r:
            token = _csrf(await r.text())
        code = await _mailed(sink, "erin@other.org", r"code is (\d{6})")
        form = {"email": "erin@other.org", "code": code, "csrf_token": token}
        async with http.post(f"{base}/login/code/verify", data=form, allow_redirects=False) as r:
            assert r.headers["Location"] == "/portal/"
        status, page = await _account_page(http, base)
        assert status == 200 and "Set a password" in page and 'name="current"' not in page
        short = {"csrf_token": _csrf(page), "password": "short", "confirm": "short"}
        async with http.post(f"{base}/portal/account/password", data=short) as r:
            assert r.status == 400
            assert "Password must be at least 8 characters." in await r.text()
        good = {"csrf_token": _csrf(page), "password": "erin's own pw", "confirm": "erin's own pw"}
        async with http.post(f"{base}/portal/account/password", data=good) as r:
            page = await r.text()
        assert r.status == 200 and "Your password is set." in page  # still signed in
        assert "Change your password" in page
    async with _client() as http:
        assert await _password_sign_in(http, base, "erin@other.org", "erin's own pw") == 303


async def test_changing_a_password_needs_the_current_one_and_ends_other_sessions(team: Team):
    base = team.api.base
    async with _client() as other, _client() as http:
        assert await _password_sign_in(other, base, "carol@example.com", PASSWORD) == 303
        assert await _password_sign_in(http, base, "carol@example.com", PASSWORD) == 303
        status, page = await _account_page(http, base)
        assert status == 200 and 'name="current"' in page
        wrong = {
            "csrf_token": _csrf(page),
            "current": "not it at all",
            "password": "another one 2",
            "confirm": "another one 2",
        }
        async with http.post(f"{base}/portal/account/password", data=wrong) as r:
            assert r.status == 400
            assert "Your current password is not right." in await r.text()
        right = {**wrong, "current": PASSWORD}
        async with http.post(f"{base}/portal/account/password", data=right) as r:
            assert r.status == 200 and "Your password is set." in await r.text()
        status, _ = await _account_page(other, base)
        assert status == 303  # the other browser is signed out
        without = {"csrf_token": _csrf(page), "password": "x" * 9, "confirm": "x" * 9}
        async with http.post(f"{base}/portal/account/password", data=without) as r:
            assert r.status == 403  # the old page's token went with the old session
    async with _client() as http:
        assert await _password_sign_in(http, base, "carol@example.com", "another one 2") == 303
