"""Who is calling, checked by the route table before a handler runs: a Bearer access token
(re-checked against the database on every request, so a deactivated user or an ended
session is shut out at once) or an integration's API key (on the routes that name a scope
for keys, the key acts as its own account, so history names the integration)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from aiohttp import web

from desk.auth.api_keys import PREFIX, authenticate_key, key_account
from desk.auth.sessions import session_user
from desk.errors import NotAuthenticated, NotFound, PermissionDenied
from desk.metrics import scrape_allowed
from desk.models import Role, User
from web.keys import DESK, TOKENS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CallerHandler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]


def with_caller(handler: CallerHandler, *, admin: bool, key_scope: str = "") -> Handler:
    """The handler, called with the signed-in caller (who must be an admin if `admin`), or,
    when the request carries an API key, with the key's account if the key has `key_scope`
    (403 naming the scope otherwise, or for a route no key may call)."""
    check = require_admin if admin else require_user

    async def endpoint(request: web.Request) -> web.StreamResponse:
        key = presented_key(request)
        if key is None:
            return await handler(request, await check(request))
        if not key_scope:
            raise PermissionDenied("API keys cannot call this endpoint; sign in instead")
        desk = request.app[DESK]
        return await handler(request, await key_account(desk.db, key, key_scope))

    return endpoint


def presented_key(request: web.Request) -> str | None:
    """An API key on a route for people: `X-Api-Key`, or a Bearer token with the keys'
    prefix (access tokens are JWTs, which never start with it)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(PREFIX):
        return value.strip()
    return request.headers.get("X-Api-Key", "").strip() or None


def with_key(handler: Handler, scope: str) -> Handler:
    """The handler, called once the request carries an API key with `scope`."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        await require_key(request, scope)
        return await handler(request)

    return endpoint


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
    return await session_user(desk.db, desk.settings, token.strip(), request.app[TOKENS])


async def require_key(request: web.Request, scope: str) -> None:
    """An integration's API key: `Authorization: Bearer <key>`, `X-Api-Key: <key>`, or the
    password of HTTP Basic auth (for providers that only know credentials in a URL)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    key = request.headers.get("X-Api-Key", "")
    if scheme.lower() == "bearer":
        key = value
    elif scheme.lower() == "basic":
        key = _basic_password(value)
    if not key.strip():
        raise NotAuthenticated("send the API key as Authorization: Bearer <key> or X-Api-Key")
    await authenticate_key(request.app[DESK].db, key.strip(), scope)


def _basic_password(value: str) -> str:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise NotAuthenticated("the Basic credentials are not valid base64") from None
    return decoded.partition(":")[2]


def with_metrics_token(handler: Handler) -> Handler:
    """The handler, called once the request carries POSTDESK_METRICS_TOKEN as a bearer
    token; without that setting the endpoint does not exist (404)."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        token = request.app[DESK].settings.metrics_token
        allowed = scrape_allowed(token, request.headers.get("Authorization", ""))
        if allowed is None:
            raise NotFound("metrics are not served: set POSTDESK_METRICS_TOKEN")
        if not allowed:
            raise NotAuthenticated("send Authorization: Bearer <POSTDESK_METRICS_TOKEN>")
        return await handler(request)

    return endpoint
