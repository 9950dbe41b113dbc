"""Admin endpoints: people, companies, API keys for integrations, the suppression list."""

from __future__ import annotations

import logging
from dataclasses import asdict

from aiohttp import web

from desk.auth.api_keys import create_key, list_keys, revoke_key
from desk.auth.password_links import invite, unlock
from desk.companies import add_company, change_company, list_companies
from desk.erasure import erase_customer
from desk.errors import NotFound, ValidationFailed
from desk.models import User
from desk.people import UserQuery, change_user, create_user, get_user, list_users, user_data
from desk.suppressions import lift, list_suppressions
from web.handlers.common import json_body, page, path_id, whole_list
from web.keys import DESK
from web.responses import json_response
from web.schemas import (
    ApiKeyCreate,
    CompanyCreate,
    CompanyUpdate,
    EraseConfirm,
    SuppressionListQuery,
    UserCreate,
    UserListQuery,
    UserUpdate,
)

log = logging.getLogger(__name__)


async def api_keys_list(request: web.Request, caller: User) -> web.Response:
    keys = await list_keys(request.app[DESK].db)
    return whole_list(keys)


async def api_keys_create(request: web.Request, admin: User) -> web.Response:
    body = await json_body(request, ApiKeyCreate)
    created = await create_key(request.app[DESK].db, admin, body.name, body.scopes)
    return json_response(created, status=201)


async def api_keys_revoke(request: web.Request, caller: User) -> web.Response:
    await revoke_key(request.app[DESK].db, path_id(request))
    return web.Response(status=204)


async def users_list(request: web.Request, caller: User) -> web.Response:
    q = UserListQuery.model_validate(dict(request.query))
    query = UserQuery(role=q.role, is_active=q.is_active, company_id=q.company, search=q.search)
    count, results = await list_users(
        request.app[DESK].db, query, offset=(q.page - 1) * q.page_size, limit=q.page_size
    )
    more = (q.page - 1) * q.page_size + len(results) < count
    return page(request, q.page, count, results, more)


async def users_create(request: web.Request, caller: User) -> web.Response:
    body = await json_body(request, UserCreate)
    async with request.app[DESK].db.writer() as session:
        user = await create_user(
            session,
            email=body.email,
            role=body.role,
            password=body.password,
            name=body.name,
            actor=caller,
        )
        data = user_data(user)
    return json_response(data, status=201)


async def users_get(request: web.Request, caller: User) -> web.Response:
    async with request.app[DESK].db.reader() as session:
        return json_response(user_data(await get_user(session, path_id(request))))


async def users_update(request: web.Request, admin: User) -> web.Response:
    body = await json_body(request, UserUpdate)
    changes = body.model_dump(exclude_unset=True)
    return json_response(await change_user(request.app[DESK], admin, path_id(request), changes))


async def users_invite(request: web.Request, admin: User) -> web.Response:
    """Mail a staff member a single-use link to set their password (audited)."""
    return json_response(await invite(request.app[DESK], admin, path_id(request)), status=202)


async def users_unlock(request: web.Request, admin: User) -> web.Response:
    """Lift the account's failed-login lockout (audited)."""
    return json_response(await unlock(request.app[DESK], admin, path_id(request)))


async def users_erase(request: web.Request, admin: User) -> web.Response:
    """A customer's personal data erased (desk.erasure), audited with this admin's name.
    The body must confirm the customer's address ({"confirm": email}; 400 otherwise): a
    stray or replayed POST erases nothing."""
    desk = request.app[DESK]
    async with desk.db.reader() as session:
        email = (await get_user(session, path_id(request))).email
    body = await json_body(request, EraseConfirm)
    if body.confirm.lower() != email.lower():
        raise ValidationFailed("confirm must be the customer's email address", field="confirm")
    done = await erase_customer(desk, email, actor=admin)
    return json_response(asdict(done))


async def companies_list(request: web.Request, caller: User) -> web.Response:
    results = await list_companies(request.app[DESK].db)
    return whole_list(results)


async def companies_create(request: web.Request, caller: User) -> web.Response:
    body = await json_body(request, CompanyCreate)
    created = await add_company(request.app[DESK].db, body.name, body.domains)
    return json_response(created, status=201)


async def companies_get(request: web.Request, caller: User) -> web.Response:
    company_id = path_id(request)
    found = await list_companies(request.app[DESK].db, company_id)
    if not found:
        raise NotFound(f"no company {company_id}")
    return json_response(found[0])


async def companies_update(request: web.Request, caller: User) -> web.Response:
    body = await json_body(request, CompanyUpdate)
    changed = await change_company(
        request.app[DESK].db, path_id(request), name=body.name, domains=body.domains
    )
    return json_response(changed)


async def suppressions_list(request: web.Request, caller: User) -> web.Response:
    q = SuppressionListQuery.model_validate(dict(request.query))
    count, results = await list_suppressions(
        request.app[DESK].db,
        address=q.address,
        offset=(q.page - 1) * q.page_size,
        limit=q.page_size,
    )
    more = (q.page - 1) * q.page_size + len(results) < count
    return page(request, q.page, count, results, more)


async def suppressions_lift(request: web.Request, admin: User) -> web.Response:
    """Automatic mail flows to the address again; a new bounce suppresses it anew."""
    address = await lift(request.app[DESK].db, path_id(request))
    log.info("admin %s lifted the suppression of %s", admin.id, address)
    return web.Response(status=204)
