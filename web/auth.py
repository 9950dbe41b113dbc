"""Who is calling: a Bearer access token, re-checked against the database on every request
so a deactivated user is shut out at once."""

from __future__ import annotations

from aiohttp import web

from desk.auth.tokens import decode
from desk.errors import NotAuthenticated
from desk.models import User
from desk.tickets.queries import active_user
from web.keys import DESK


async def require_user(request: web.Request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer <access token>")
    desk = request.app[DESK]
    claims = decode(desk.settings, token.strip(), "access")
    user = await active_user(desk.db, int(claims["sub"]))
    if user is None:
        raise NotAuthenticated("this account is not active")
    return user
