"""Inviting a new staff member from the People page: the account is made by
desk.people.create_user (as `POST /api/admin/users/`, with the API's UserCreate rules) and
the invitation mail with its set-password link is sent by desk.auth.password_links.invite
(as `POST /api/admin/users/<id>/invite`). Site admins only; CSRF-checked by the page gate."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from desk.auth.browser import BrowserLogin
from desk.auth.password_links import invite
from desk.errors import ValidationFailed
from desk.models import Role
from desk.people import create_user
from web.keys import DESK
from web.pages import forms
from web.pages.admin_layout import admin_page
from web.pages.security import see_other
from web.schemas import UserCreate

STAFF_ROLES = (Role.AGENT, Role.ADMIN)


def _invitee(form: forms.Form) -> UserCreate:
    """The form's email, name and staff role, checked as the API checks them (400 if not)."""
    role = forms.text(form, "role")
    if role not in STAFF_ROLES:
        raise ValidationFailed("invite staff as agent or admin", field="role")
    fields = {
        "email": forms.text(form, "email").strip(),
        "role": role,
        "name": forms.text(form, "name").strip(),
    }
    try:
        return UserCreate.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"{first['loc'][0]}: {first['msg']}") from None


async def staff_invite(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`POST /app/admin/people/invite`: a new agent or admin without a password, and the
    mail with the link to set one."""
    wanted = _invitee(await request.post())
    desk = request.app[DESK]
    async with desk.db.writer() as session:
        user = await create_user(
            session,
            email=wanted.email,
            role=wanted.role,
            password=None,
            name=wanted.name,
            actor=login.user,
        )
        user_id = user.id
    await invite(desk, login.user, user_id)
    return see_other("/app/admin/people?done=invited")


ROUTES = [("POST", "/app/admin/people/invite", admin_page(staff_invite))]
