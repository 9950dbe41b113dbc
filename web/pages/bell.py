"""The bell: "Notifications (N)" in the header of every staff page, and the list behind it
(`/app/notifications`, newest first, with "Mark all read"), through the same desk functions
as `/api/notifications/` (desk.notifications). static/bell.js keeps the count live from the
`notification.added` frames of `/ws/notifications/?bell=1`.

The count is put in the templates' context by a middleware (`bell_count`) because the
header is drawn by base.html for every page, whichever handler renders it."""

from __future__ import annotations

import warnings

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin
from desk.errors import DeskError
from desk.models import Role
from desk.notifications import list_for, mark_all_read, unread_count
from web.keys import DESK
from web.pages.security import Handler, page, see_other, signed_in, template_context

LISTED = 100  # the newest lines on the page; older ones stay in the API


@web.middleware
async def bell_count(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`bell_unread` for the templates of staff pages (the header's count). The page's own
    gate still decides who may see the page; a visitor without a good session gets none.
    Posts too: a refused one shows its page again (the composer's warning, a form's
    reason, an error page), with the same header."""
    if request.path.startswith("/app/"):
        try:
            login = await signed_in(request)
        except DeskError:
            login = None
        if login is not None and login.user.role != Role.CUSTOMER:
            unread = await unread_count(request.app[DESK].db, login.user)
            # aiohttp_jinja2 merges this key into every template's context; the key is its
            # own plain string, which aiohttp warns about (and the tests make warnings fail).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", web.NotAppKeyWarning)
                context = request.setdefault(aiohttp_jinja2.REQUEST_CONTEXT_KEY, {})
            context["bell_unread"] = unread
    return await handler(request)


async def notifications(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    _, lines, _ = await list_for(
        request.app[DESK].db, login.user, unread=False, offset=0, limit=LISTED
    )
    context = template_context(request, login, notifications=lines)
    return aiohttp_jinja2.render_template("app/notifications.html", request, context)


async def read_all(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await mark_all_read(request.app[DESK].db, login.user)
    return see_other("/app/notifications")


ROUTES = [
    ("GET", "/app/notifications", page(notifications)),
    ("POST", "/app/notifications/read-all", page(read_all)),
]
