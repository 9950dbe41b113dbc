"""Admin endpoints: API keys for integrations."""

from __future__ import annotations

from aiohttp import web

from desk.auth.api_keys import create_key, list_keys, revoke_key
from web.auth import require_admin
from web.handlers.common import json_body, path_id
from web.keys import DESK
from web.schemas import ApiKeyCreate


async def api_keys_list(request: web.Request) -> web.Response:
    await require_admin(request)
    keys = await list_keys(request.app[DESK].db)
    return web.json_response({"count": len(keys), "next": None, "previous": None,
                              "results": keys})  # fmt: skip


async def api_keys_create(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    body = await json_body(request, ApiKeyCreate)
    created = await create_key(request.app[DESK].db, admin, body.name, body.scopes)
    return web.json_response(created, status=201)


async def api_keys_revoke(request: web.Request) -> web.Response:
    await require_admin(request)
    await revoke_key(request.app[DESK].db, path_id(request))
    return web.Response(status=204)
