"""Sign-in and sign-out pages, and `/`, which sends each person to their place.

Two ways in: a password (everyone), or a one-time code mailed to the address (customers:
the portal's "email me a code"). "Forgot password?" mails a link to set a new one (as the
API's password reset); a signed-in customer sets or changes theirs on the portal's account
page (web.pages.account). Sign-in has no session yet to tie a CSRF token to, so its
forms carry a double-submit token (web.pages.security.presession_csrf): a page elsewhere
cannot sign a browser into an account of the attacker's choosing (login CSRF)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin, access_token_for, start_browser_session
from desk.auth.otp import request_code, sign_in_with_code
from desk.auth.password_links import InvalidToken, link_problem, request_reset, set_password
from desk.auth.revocation import log_out_session
from desk.auth.signin import password_sign_in
from desk.context import Desk
from desk.errors import DeskError, NotAuthenticated, ValidationFailed
from desk.models import Role, User
from desk.tickets.queries import user_by_email
from web.client import client_address
from web.keys import DESK
from web.pages.security import (
    COOKIE,
    PRESESSION_CSRF,
    check_presession_csrf,
    page,
    presession_csrf,
    safe_next,
    see_other,
    set_session_cookie,
    signed_in,
)


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
    return _form_page(request, "login.html", {})


def _form_page(
    request: web.Request, template: str, values: dict[str, Any], status: int = 200
) -> web.Response:
    """A sign-in form page with its pre-session CSRF token and what was typed so far."""
    context = {
        "next": safe_next(request.query.get("next", values.get("next", ""))),
        "email": values.get("email", request.query.get("email", "")),
        "error": values.get("error"),
        "notice": values.get("notice"),
        "csrf": secrets.token_urlsafe(32),
        "token": values.get("token", ""),
        "dead": values.get("dead", False),
        "forgot": values.get("forgot", False),
    }
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    presession_csrf(request, response, context["csrf"])
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "")))
    desk = request.app[DESK]
    try:
        check_presession_csrf(request, str(form.get("csrf_token", "")))
        user = await password_sign_in(desk, email, password, client_address(request))
    except DeskError as exc:
        values = {"email": email, "next": nxt, "error": exc.message}
        return _form_page(request, "login.html", values, exc.status)
    return await _signed_in_as(request, user, nxt)


async def _signed_in_as(request: web.Request, user: User, nxt: str) -> web.Response:
    response = see_other(nxt or start_page(user))
    await sign_in_browser(request, response, user)
    return response


async def sign_in_browser(request: web.Request, response: web.StreamResponse, user: User) -> None:
    """A new browser session for `user` on `response` (its cookie; the pre-session CSRF
    cookie dropped)."""
    desk = request.app[DESK]
    cookie = await start_browser_session(desk.db, desk.settings, user)
    set_session_cookie(request, response, cookie)
    response.del_cookie(PRESESSION_CSRF, path="/")


async def code_request(request: web.Request) -> web.StreamResponse:
    """`POST /login/code`: mail a one-time code, then ask for it. The answer is the same
    whether or not the address has an account (desk.auth.otp.request_code)."""
    email, refused = await _mail_to_typed_address(request, request_code)
    if refused is not None:
        values = {"email": email, "error": refused.message}
        return _form_page(request, "login.html", values, refused.status)
    notice = f"If {email} may sign in here, a code is on its way. It works for 10 minutes."
    return _form_page(request, "login_code.html", {"email": email, "notice": notice})


async def _mail_to_typed_address(
    request: web.Request, send: Callable[[Desk, str, str], Awaitable[object]]
) -> tuple[str, DeskError | None]:
    """The address typed in the sign-in form, and why `send` (a code, a reset link) was
    refused, or None once it went; the pre-session CSRF token is checked first."""
    form = await request.post()
    email = str(form.get("email", "")).strip()
    try:
        check_presession_csrf(request, str(form.get("csrf_token", "")))
        await send(request.app[DESK], email, client_address(request))
    except DeskError as exc:
        return email, exc
    return email, None


async def code_submit(request: web.Request) -> web.StreamResponse:
    """`POST /login/code/verify`: the code mailed by code_request signs the customer in."""
    form = await request.post()
    email, code = str(form.get("email", "")).strip(), str(form.get("code", ""))
    try:
        check_presession_csrf(request, str(form.get("csrf_token", "")))
        user = await sign_in_with_code(request.app[DESK], email, code)
    except DeskError as exc:
        values = {"email": email, "error": exc.message}
        return _form_page(request, "login_code.html", values, exc.status)
    return await _signed_in_as(request, user, "")


async def reset_request(request: web.Request) -> web.StreamResponse:
    """`POST /login/reset`: "Forgot password?" mails a link to set a new one, as
    POST /api/auth/password-reset/ does (desk.auth.password_links.request_reset: rationed,
    the same answer whether or not the address has an account)."""
    email, refused = await _mail_to_typed_address(request, request_reset)
    if refused is not None:
        values = {"email": email, "error": refused.message, "forgot": True}
        return _form_page(request, "login.html", values, refused.status)
    notice = (
        f"If {email} has an account here, a link to set a new password is on its way. "
        "It works for an hour."
    )
    return _form_page(request, "login.html", {"email": email, "notice": notice})


async def set_password_form(request: web.Request) -> web.StreamResponse:
    """`/login/set-password?token=`: where an invitation or a reset mail leads. A link that
    no longer works (used, expired, replaced) or carries no token says so at once, with the
    ways on, and offers no form to fill in for nothing."""
    token = request.query.get("token", "")
    problem = await link_problem(request.app[DESK], token)
    values = {"token": token, "error": problem, "dead": problem is not None}
    return _form_page(request, "set_password.html", values, 400 if problem else 200)


async def set_password_submit(request: web.Request) -> web.StreamResponse:
    """The new password for the link's account (desk.auth.password_links.set_password:
    once, before it expires; every earlier session ends); then signed in."""
    form = await request.post()
    token, password = str(form.get("token", "")), str(form.get("password", ""))
    desk = request.app[DESK]
    try:
        check_presession_csrf(request, str(form.get("csrf_token", "")))
        if password != str(form.get("confirm", "")):
            raise ValidationFailed("the two passwords differ", field="confirm")
        done = await set_password(desk, token, password)
        user = await user_by_email(desk.db, done["email"])
    except DeskError as exc:
        dead = isinstance(exc, InvalidToken)
        values = {"token": token, "error": exc.message, "dead": dead}
        return _form_page(request, "set_password.html", values, exc.status)
    if user is None:
        return see_other("/login")
    return await _signed_in_as(request, user, "")


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
    ("POST", "/login/code", code_request),
    ("POST", "/login/code/verify", code_submit),
    ("POST", "/login/reset", reset_request),
    ("GET", "/login/set-password", set_password_form),
    ("POST", "/login/set-password", set_password_submit),
    ("POST", "/logout", page(logout, staff=False)),
    ("POST", "/app/token", page(page_token, staff=False)),
]
