"""Sign-in and sign-out pages, and `/`, which sends each person to their place.

Sign-in has no session yet to tie a CSRF token to, so its form carries a double-submit
token (a random value in a short-lived cookie and in the form, which must match): a
page elsewhere cannot sign a browser into an account of the attacker's choosing
(login CSRF)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin, access_token_for, start_browser_session
from desk.auth.revocation import log_out_session
from desk.auth.signin import password_sign_in
from desk.errors import DeskError, NotAuthenticated
from desk.models import Role, User
from web.keys import DESK
from web.pages.security import (
    COOKIE,
    page,
    see_other,
    served_over_https,
    set_session_cookie,
    signed_in,
)

LOGIN_CSRF = "postdesk_login_csrf"


async def home(request: web.Request) -> web.StreamResponse:
    """`/`: a signed-in person to their start page, anyone else to sign-in."""
    try:
        login = await signed_in(request)
    except NotAuthenticated:
        return see_other("/login")
    return see_other(start_page(login.user))


def start_page(user: User) -> str:
    """Where a person lands after sign-in: customers in the portal, staff in the inbox."""
    return "/portal/" if user.role == Role.CUSTOMER else "/app/"


async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request, {})


def _login_page(request: web.Request, values: dict[str, Any], status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    context = {
        "csrf": token,
        "next": safe_next(request.query.get("next", values.get("next", ""))),
        "email": values.get("email", ""),
        "error": values.get("error"),
    }
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(
        LOGIN_CSRF,
        token,
        httponly=True,
        samesite="Strict",
        secure=served_over_https(request),
        path="/login",
        max_age=3600,
    )
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "")))
    presented, expected = str(form.get("csrf_token", "")), request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(presented, expected):
        values = {"email": email, "next": nxt, "error": "The form expired. Please try again."}
        return _login_page(request, values, status=403)
    desk = request.app[DESK]
    try:
        user = await password_sign_in(desk, email, password, request.remote or "unknown")
    except DeskError as exc:
        return _login_page(request, {"email": email, "next": nxt, "error": exc.message}, exc.status)
    cookie = await start_browser_session(desk.db, desk.settings, user)
    response = see_other(nxt or start_page(user))
    set_session_cookie(request, response, cookie)
    response.del_cookie(LOGIN_CSRF, path="/login")
    return response


def safe_next(value: str) -> str:
    """Only a path on this site: `/app/...`, never `//host` or `https://host` (an open
    redirect would lend our sign-in page to phishing)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


async def logout(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await log_out_session(request.app[DESK], login.sid)
    response = see_other("/login")
    response.del_cookie(COOKIE, path="/")
    return response


async def page_token(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`POST /app/token`: an access token for the pages' script (sockets, JSON calls);
    POST with the CSRF header, so no other site can obtain one through the cookie."""
    token = access_token_for(request.app[DESK].settings, login)
    return web.json_response({"access": token, "user_id": login.user.id})


ROUTES = [
    ("GET", "/", home),
    ("GET", "/login", login_form),
    ("POST", "/login", login_submit),
    ("POST", "/logout", page(logout, staff=False)),
    ("POST", "/app/token", page(page_token, staff=False)),
]
