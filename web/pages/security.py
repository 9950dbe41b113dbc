"""What every page answer carries, and the gate every page passes.

- `page_headers`: a Content Security Policy with no inline script and no framing of our
  pages (`frame-ancestors 'none'`), and the usual companions (nosniff, referrer policy),
  on every HTML answer and static file. Mail HTML is served by its own route with a
  stricter policy of its own (a sandbox), never under this one.
- `page`: the decorator of every page handler. It finds the signed-in person from the
  session cookie (desk.auth.browser), sends anyone else to `/login`, checks the CSRF token
  on every state-changing request, renews the cookie (idle expiry), and turns the desk's
  errors into an HTML page with the same status as the API would answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin, browser_cookie, browser_login, check_csrf, csrf_token
from desk.errors import DeskError, NotAuthenticated, PermissionDenied, ValidationFailed
from desk.models import Role
from web.keys import DESK
from web.schemas import is_digits

COOKIE = "postdesk_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

PageHandler = Callable[[web.Request, BrowserLogin], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def page_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on pages and their files (not on the JSON API, which sets its own)."""
    path = request.path
    if path.startswith("/api/") or path.startswith("/ws/"):
        return
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")


PAGE_PREFIXES = ("/app/", "/portal/")


def page(
    handler: PageHandler, *, staff: bool = True, customer: bool = False, admin: bool = False
) -> Handler:
    """`handler`, called with the browser's login; `staff` pages refuse customers (403),
    `admin` pages everyone but site admins (403); `customer` pages (the portal) send staff
    to their workspace."""

    async def gate(request: web.Request) -> web.StreamResponse:
        try:
            login = await signed_in(request)
        except NotAuthenticated:
            if request.method in SAFE_METHODS:
                return see_other(f"/login?next={quote(request.path_qs)}")
            return render_error(request, 401, "Your session has ended. Sign in again.")
        try:
            if request.method not in SAFE_METHODS:
                await check_form_csrf(request, login)
            if staff and login.user.role == Role.CUSTOMER:
                return render_error(request, 403, "This page is for the support team.")
            if admin and login.user.role != Role.ADMIN:
                return render_error(request, 403, "This page is for site admins.")
            if customer and login.user.role != Role.CUSTOMER:
                return see_other(_workspace_for(request))
            response = await handler(request, login)
        except DeskError as exc:
            response = _error_page(request, exc)
        renew(request, response, login)
        return response

    return gate


LOGIN = web.RequestKey("login", BrowserLogin)


def _error_page(request: web.Request, exc: DeskError) -> web.Response:
    """A refusal as the HTML error page; an id in the address that is not a number
    (ValidationFailed naming a path segment) names no page: 404, not the API's 400."""
    if isinstance(exc, ValidationFailed) and exc.details.get("field") in request.match_info:
        return render_error(request, 404, "There is no such page.")
    return render_error(request, exc.status, exc.message)


def _workspace_for(request: web.Request) -> str:
    """Where a member of staff who opened a portal address belongs: a request's own
    conversation page (a portal link shared with them), else their inbox."""
    ticket = request.match_info.get("id", "")
    if request.path.startswith("/portal/tickets/") and is_digits(ticket):
        return f"/app/tickets/{ticket}/"
    return "/app/"


@web.middleware
async def page_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A page address (/app, /portal) that names nothing (no such route; an id that is not
    a number, which the routes' patterns refuse) is answered with the HTML error page, as
    the browser expects, not the API's JSON."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if not request.path.startswith(PAGE_PREFIXES):
            raise
        other = await _other_slash(request)
        if other is not None:
            raise web.HTTPPermanentRedirect(other) from None
        try:
            await signed_in(request)  # the header of the person, if any
        except DeskError:
            pass
        return render_error(request, 404, "There is no such page.")


async def _other_slash(request: web.Request) -> str | None:
    """For a GET of a page address typed with or without its last slash the other way
    (`/app/admin/mail/`, `/app/tickets/5`): the address that names a page, with the query
    kept; None when neither form does."""
    if request.method not in ("GET", "HEAD") or request.path in ("/", ""):
        return None
    path = request.path
    other = path[:-1] if path.endswith("/") else path + "/"
    match = await request.app.router.resolve(request.clone(rel_url=other))
    if match.http_exception is not None:
        return None
    query = request.rel_url.raw_query_string  # as sent: still percent-encoded
    return other + (f"?{query}" if query else "")


async def signed_in(request: web.Request) -> BrowserLogin:
    """The browser's login, from its cookie; NotAuthenticated without a good one. Read once
    per request: the bell's middleware and the page's gate both ask, and each read is two
    queries (the session and its person)."""
    if LOGIN in request:
        return request[LOGIN]
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise NotAuthenticated("not signed in")
    desk = request.app[DESK]
    login = await browser_login(desk.db, desk.settings, cookie)
    request[LOGIN] = login
    return login


async def check_form_csrf(request: web.Request, login: BrowserLogin) -> None:
    """The CSRF token from the `X-CSRF-Token` header or the form's `csrf_token` field.
    Reading the form here is fine: aiohttp keeps it for the handler's own `post()`."""
    presented = request.headers.get("X-CSRF-Token")
    if presented is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf_token")
        presented = value if isinstance(value, str) else None
    check_csrf(request.app[DESK].settings, login.sid, presented)


NEXT_LIMIT = 2000  # characters; a longer "next" is not a link anyone followed


def safe_next(value: str) -> str:
    """`value` if it is a plain path on this site (`/app/tickets/7/?view=mine`), else "".

    The one rule for every redirect target a request carries (`next=` on sign-in): an open
    redirect would lend our sign-in page to phishing, and a line break in a Location header
    would be header injection. Refused: anything not starting with a single `/` (`//host`,
    `https://host`), backslashes (browsers read `/\\host` as `//host`), and any whitespace or
    control character (browsers drop a tab, so `/\\t/host` becomes `//host`), and anything
    not printable ASCII (a real path of ours is percent-encoded)."""
    if not value.startswith("/") or value.startswith("//") or len(value) > NEXT_LIMIT:
        return ""
    if "\\" in value or any(_unsafe_character(c) for c in value):
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return ""
    return value


def _unsafe_character(c: str) -> bool:
    """Anything but printable ASCII: a path we send people to is percent-encoded."""
    return not "!" <= c <= "~"


def see_other(location: str) -> web.Response:
    """A 303 to `location` as an ordinary answer, so cookies can be set on it (aiohttp wants
    HTTP exceptions raised, and a raised one would lose them)."""
    return web.Response(status=303, headers={"Location": location})


PRESESSION_CSRF = "postdesk_form_csrf"


def presession_csrf(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Keep `token`, the CSRF token of a form shown before sign-in (no session to tie it
    to), in a cookie; the form carries it too and the two must match (double submit)."""
    response.set_cookie(
        PRESESSION_CSRF,
        token,
        httponly=True,
        samesite="Strict",
        secure=served_over_https(request),
        path="/",
        max_age=3600,
    )


def check_presession_csrf(request: web.Request, presented: str) -> None:
    """PermissionDenied unless the form's token matches its cookie."""
    expected = request.cookies.get(PRESESSION_CSRF, "")
    if not expected or not hmac.compare_digest(presented, expected):
        raise PermissionDenied("the form expired or did not come from this site; try again")


def set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    """HttpOnly, SameSite=Lax, Secure when the page came over HTTPS (directly or through a
    proxy that says so), for the whole site."""
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="Lax",
        secure=served_over_https(request),
        path="/",
    )


def served_over_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def renew(request: web.Request, response: web.StreamResponse, login: BrowserLogin) -> None:
    """A fresh cookie with the idle time counted from now (sliding expiry); not over a
    new session's cookie the handler set (a password changed: the old session ended)."""
    if response.prepared or COOKIE in response.cookies:
        return
    settings = request.app[DESK].settings
    set_session_cookie(request, response, browser_cookie(settings, login.user.id, login.sid))


def template_context(request: web.Request, login: BrowserLogin, **values: Any) -> dict[str, Any]:
    """What every signed-in page template reads: the viewer and the CSRF token."""
    settings = request.app[DESK].settings
    return {"viewer": login.user, "csrf": csrf_token(settings, login.sid), **values}


def render_error(request: web.Request, status: int, message: str) -> web.Response:
    """The error page; with the header of a signed-in person (their links, the bell,
    sign-out) when the request's login was read (`signed_in`), a bare one otherwise."""
    values: dict[str, Any] = {"status": status, "message": message}
    login = request.get(LOGIN)
    if login is not None:
        values = template_context(request, login, **values)
    return aiohttp_jinja2.render_template("error.html", request, values, status=status)
