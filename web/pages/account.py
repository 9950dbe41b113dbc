"""The portal's account page (`/portal/account`): a signed-in customer sets a password (one
who came in by a mailed code has none yet) or changes it, giving the current one. The desk
function (desk.auth.password_links.change_own_password) ends every session of the account,
as a reset does; this browser is signed in again at once with a new session."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin
from desk.auth.password_links import change_own_password
from desk.errors import DeskError, ValidationFailed
from web.client import client_address
from web.keys import DESK
from web.pages import forms
from web.pages.security import page, see_other, template_context
from web.pages.signin import sign_in_browser


async def account(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return _render(request, login, done=request.query.get("done") == "1")


def _render(
    request: web.Request,
    login: BrowserLogin,
    *,
    error: str | None = None,
    status: int = 200,
    done: bool = False,
) -> web.Response:
    context = template_context(
        request, login, has_password=login.user.password_hash is not None, error=error, done=done
    )
    return aiohttp_jinja2.render_template("portal/account.html", request, context, status=status)


async def password_save(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Set or change the password; a refusal (too short, the two differ, the current one
    wrong) shows the page again with the reason."""
    form = await request.post()
    password = forms.text(form, "password", 1000)
    try:
        if password != forms.text(form, "confirm", 1000):
            raise ValidationFailed("the two passwords differ", field="confirm")
        await change_own_password(
            request.app[DESK],
            login.user,
            forms.text(form, "current", 1000),
            password,
            client_address(request),
        )
    except DeskError as exc:
        return _render(request, login, error=exc.message, status=exc.status)
    response = see_other("/portal/account?done=1")
    await sign_in_browser(request, response, login.user)  # the old session has just ended
    return response


ROUTES = [
    ("GET", "/portal/account", page(account, staff=False, customer=True)),
    ("POST", "/portal/account/password", page(password_save, staff=False, customer=True)),
]
