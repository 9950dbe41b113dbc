"""`/app/saved-replies/`: the team's saved replies, listed, created, edited and deleted in
the browser by the same desk.saved_replies functions as `/api/saved-replies/` (every agent
and admin reads and creates; the author edits and deletes their own, a site admin any;
placeholders checked on save). Staff only; every form CSRF-checked by the page gate."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from desk import saved_replies
from desk.auth.browser import BrowserLogin
from desk.errors import ValidationFailed
from desk.models import Role
from web.keys import DESK
from web.pages import forms
from web.pages.security import page, see_other, template_context
from web.schemas import SavedReplyCreate

HOME = "/app/saved-replies/"


async def library(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The list, each with its edit form when the viewer may change it, and a new one."""
    found = await saved_replies.list_replies(request.app[DESK].db, login.user)
    admin = login.user.role == Role.ADMIN
    for reply in found:
        reply["editable"] = admin or reply["created_by"] == login.user.id
    context: dict[str, Any] = template_context(
        request,
        login,
        replies=found,
        placeholders=list(saved_replies.PLACEHOLDERS),
        done=request.query.get("done", ""),
    )
    return aiohttp_jinja2.render_template("app/saved_replies.html", request, context)


def _fields(form: forms.Form) -> SavedReplyCreate:
    """Title and body, with the API's limits (400 naming the field otherwise)."""
    wanted = {"title": forms.text(form, "title"), "body": forms.text(form, "body")}
    try:
        return SavedReplyCreate.model_validate(wanted)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"{first['loc'][0]}: {first['msg']}") from None


async def create(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    wanted = _fields(await request.post())
    await saved_replies.create_reply(request.app[DESK], login.user, wanted.title, wanted.body)
    return see_other(HOME + "?done=saved")


async def edit(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    wanted = _fields(await request.post())
    reply_id = int(request.match_info["id"])
    await saved_replies.update_reply(
        request.app[DESK], login.user, reply_id, title=wanted.title, body=wanted.body
    )
    return see_other(HOME + "?done=saved")


async def delete(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    reply_id = int(request.match_info["id"])
    await saved_replies.delete_reply(request.app[DESK], login.user, reply_id)
    return see_other(HOME + "?done=deleted")


ROUTES = [
    ("GET", HOME, page(library)),
    ("POST", HOME, page(create)),
    ("POST", HOME + r"{id:[0-9]+}/", page(edit)),
    ("POST", HOME + r"{id:[0-9]+}/delete", page(delete)),
]
