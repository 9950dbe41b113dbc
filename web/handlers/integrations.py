"""Admin endpoints for what runs by itself: outbound webhooks, the IMAP mailboxes and the
scheduled jobs."""

from __future__ import annotations

from aiohttp import web

from desk.imap_mailboxes import mailbox_states
from desk.jobs.runs import list_jobs
from desk.models import User
from desk.webhooks import subscriptions as subs
from desk.webhooks.queue import redeliver
from web.handlers.common import json_body, page, path_id, whole_list
from web.keys import DESK
from web.responses import json_response
from web.schemas import PageQuery, WebhookCreate, WebhookUpdate


async def jobs_list(request: web.Request, caller: User) -> web.Response:
    return whole_list(await list_jobs(request.app[DESK].db))


async def imap_mailboxes_list(request: web.Request, caller: User) -> web.Response:
    """Each configured IMAP mailbox as its poller last reported (desk.imap_mailboxes)."""
    desk = request.app[DESK]
    return whole_list(await mailbox_states(desk.db, desk.settings.imap_urls))


async def webhooks_list(request: web.Request, caller: User) -> web.Response:
    q = PageQuery.model_validate(dict(request.query))
    count, found = await subs.list_page(request.app[DESK], (q.page - 1) * q.page_size, q.page_size)
    more = (q.page - 1) * q.page_size + len(found) < count
    return page(request, q.page, count, [subs.subscription_data(s) for s in found], more)


async def webhooks_create(request: web.Request, admin: User) -> web.Response:
    body = await json_body(request, WebhookCreate)
    sub = await subs.create(
        request.app[DESK],
        admin,
        url=body.url,
        events=body.events,
        secret=body.secret,
        description=body.description,
        is_active=body.is_active,
    )
    return json_response(subs.subscription_data(sub, with_secret=True), status=201)


async def webhook_detail(request: web.Request, caller: User) -> web.Response:
    desk, sub_id = request.app[DESK], path_id(request)
    if request.method == "DELETE":
        await subs.remove(desk, sub_id)
        return web.Response(status=204)
    if request.method == "PATCH":
        body = await json_body(request, WebhookUpdate)
        sub, rotated = await subs.change(desk, sub_id, body.model_dump(exclude_unset=True))
        return json_response(subs.subscription_data(sub, with_secret=rotated))
    return json_response(subs.subscription_data(await subs.get(desk, sub_id)))


async def deliveries_list(request: web.Request, caller: User) -> web.Response:
    q = PageQuery.model_validate(dict(request.query))
    offset = (q.page - 1) * q.page_size
    count, found = await subs.deliveries_page(
        request.app[DESK], path_id(request), offset, q.page_size
    )
    return page(request, q.page, count, found, offset + len(found) < count)


async def delivery_redeliver(request: web.Request, caller: User) -> web.Response:
    delivery = await redeliver(request.app[DESK].db, path_id(request), path_id(request, "d"))
    return json_response({"id": delivery.id, "state": delivery.state}, status=202)
