"""The admin console's endpoints for mail and settings: stored inbound mail (why a mail
became, or did not become, a ticket message; retry), the outbox (retry), and the run-time
settings. Each parses, calls one desk function and shapes the answer."""

from __future__ import annotations

import logging

from aiohttp import web

from desk import desk_settings, inbound_admin, outbox_admin
from desk.brand_logo import MAX_LOGO_BYTES, logo_file, remove_logo, set_logo
from desk.errors import ValidationFailed
from desk.models import User
from web.handlers.common import json_body, page, path_id
from web.keys import DESK
from web.responses import json_response
from web.schemas import InboundListQuery, OutboxListQuery, SettingsUpdate

log = logging.getLogger(__name__)


async def inbound_list(request: web.Request, caller: User) -> web.Response:
    q = InboundListQuery.model_validate(dict(request.query))
    offset = (q.page - 1) * q.page_size
    found = await inbound_admin.list_for_admin(
        request.app[DESK].db, q.state, offset=offset, limit=q.page_size
    )
    return page(request, q.page, found.count, found.results, offset + q.page_size < found.count)


async def inbound_get(request: web.Request, caller: User) -> web.Response:
    return json_response(await inbound_admin.inbound_detail(request.app[DESK].db, path_id(request)))


async def inbound_retry(request: web.Request, admin: User) -> web.Response:
    desk = request.app[DESK]
    mail_id = path_id(request)
    queued = await inbound_admin.retry_one(desk.db, mail_id)
    desk.receiver.stored.set()  # the inbound worker of this process looks now
    log.info("admin %s queued inbound mail %s again", admin.id, mail_id)
    return json_response({"queued": queued}, status=202)


async def inbound_retry_failed(request: web.Request, admin: User) -> web.Response:
    desk = request.app[DESK]
    queued = await inbound_admin.retry_failed(desk.db)
    desk.receiver.stored.set()
    log.info("admin %s queued %d failed inbound mails again", admin.id, queued)
    return json_response({"queued": queued}, status=202)


async def outbox_list(request: web.Request, caller: User) -> web.Response:
    q = OutboxListQuery.model_validate(dict(request.query))
    offset = (q.page - 1) * q.page_size
    count, results = await outbox_admin.list_for_admin(
        request.app[DESK].db, q.state, offset=offset, limit=q.page_size
    )
    return page(request, q.page, count, results, offset + q.page_size < count)


async def outbox_retry(request: web.Request, admin: User) -> web.Response:
    mail_id = path_id(request)
    record = await outbox_admin.retry_mail(request.app[DESK].db, mail_id)
    log.info("admin %s queued outgoing mail %s again", admin.id, mail_id)
    return json_response(record, status=202)


async def logo_upload(request: web.Request, admin: User) -> web.Response:
    """The image as the body, as is (any image Content-Type; the bytes decide)."""
    data = b""
    while chunk := await request.content.read(64 * 1024):
        data += chunk
        if len(data) > MAX_LOGO_BYTES:  # refused while it streams in, not after
            raise ValidationFailed(f"the logo is larger than {MAX_LOGO_BYTES} bytes", field="body")
    return json_response(await set_logo(request.app[DESK], admin, data))


async def logo_remove(request: web.Request, admin: User) -> web.Response:
    await remove_logo(request.app[DESK], admin)
    return web.Response(status=204)


async def logo(request: web.Request) -> web.StreamResponse:
    """Public (the sign-in page and mail show it); never run as anything but an image."""
    path, content_type = await logo_file(request.app[DESK])
    response = web.FileResponse(path)
    response.content_type = content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def settings(request: web.Request, admin: User) -> web.Response:
    desk = request.app[DESK]
    if request.method == "PATCH":
        body = await json_body(request, SettingsUpdate)
        changes = body.model_dump(exclude_unset=True)
        return json_response(await desk_settings.change(desk, admin, changes))
    return json_response(await desk_settings.describe(desk))
