"""Token issue."""

from __future__ import annotations

from aiohttp import web

from desk.auth.passwords import verify_password
from desk.auth.tokens import issue_pair
from desk.errors import NotAuthenticated
from desk.tickets.queries import user_by_email
from web.handlers.common import json_body
from web.keys import DESK
from web.schemas import TokenRequest


async def obtain_token(request: web.Request) -> web.Response:
    body = await json_body(request, TokenRequest)
    desk = request.app[DESK]
    user = await user_by_email(desk.db, body.login)
    ok = verify_password(user.password_hash if user else None, body.password)
    if user is None or not ok or not user.is_active:
        raise NotAuthenticated("wrong email or password")
    return web.json_response(issue_pair(desk.settings, user.id))
