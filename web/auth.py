"""Who is calling: a Bearer access token, re-checked against the database on every request
so a deactivated user or an ended session is shut out at once."""

from __future__ import annotations

from aiohttp import web

from desk.auth.sessions import session_user
from desk.errors import NotAuthenticated, PermissionDenied
from desk.models import Role, User
from web.keys import DESK


async def require_admin(request: web.Request) -> User:
    user = await require_user(request)
    if user.role != Role.ADMIN:
        raise PermissionDenied("admins only")
    return user


async def require_user(request: web.Request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer <access token>")
    desk = request.app[DESK]
    return await session_user(desk.db, desk.settings, token.strip())
