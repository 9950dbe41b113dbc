"""The agent workspace over REST: saved replies, merging tickets, notifications."""

from __future__ import annotations

from aiohttp import web

from desk import notifications, saved_replies
from desk.errors import refuse_nulls
from desk.models import User
from desk.tickets import merge
from web.handlers.common import json_body, page, path_id, whole_list
from web.keys import DESK
from web.responses import json_response
from web.schemas import (
    NotificationQuery,
    SavedReplyCreate,
    SavedReplyRender,
    SavedReplyUpdate,
    TicketMergeRequest,
)


async def replies_list(request: web.Request, user: User) -> web.Response:
    return whole_list(await saved_replies.list_replies(request.app[DESK].db, user))


async def reply_create(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, SavedReplyCreate)
    made = await saved_replies.create_reply(request.app[DESK], user, body.title, body.body)
    return json_response(made, status=201)


async def reply_get(request: web.Request, user: User) -> web.Response:
    return json_response(
        await saved_replies.get_reply(request.app[DESK].db, user, path_id(request))
    )


async def reply_update(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, SavedReplyUpdate)
    refuse_nulls(body.model_dump(exclude_unset=True), ("title", "body"))
    changed = await saved_replies.update_reply(
        request.app[DESK], user, path_id(request), title=body.title, body=body.body
    )
    return json_response(changed)


async def reply_delete(request: web.Request, user: User) -> web.Response:
    await saved_replies.delete_reply(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def reply_render(request: web.Request, user: User) -> web.Response:
    q = SavedReplyRender.model_validate(dict(request.query))
    rendered = await saved_replies.render_reply(request.app[DESK], user, path_id(request), q.ticket)
    return json_response(rendered)


async def ticket_merge(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, TicketMergeRequest)
    done = await merge.merge_tickets(request.app[DESK], user, path_id(request), body.into)
    return json_response(done)


async def ticket_unmerge(request: web.Request, user: User) -> web.Response:
    return json_response(await merge.unmerge_ticket(request.app[DESK], user, path_id(request)))


async def merge_suggestions(request: web.Request, user: User) -> web.Response:
    found = await merge.suggestions(request.app[DESK].db, user, path_id(request))
    return whole_list(found)


async def notifications_list(request: web.Request, user: User) -> web.Response:
    q = NotificationQuery.model_validate(dict(request.query))
    count, results, more = await notifications.list_for(
        request.app[DESK].db,
        user,
        unread=q.unread,
        offset=(q.page - 1) * q.page_size,
        limit=q.page_size,
    )
    return page(request, q.page, count, results, more)


async def notification_read(request: web.Request, user: User) -> web.Response:
    done = await notifications.mark_read(request.app[DESK].db, user, path_id(request))
    return json_response(done)


async def notifications_read_all(request: web.Request, user: User) -> web.Response:
    count = await notifications.mark_all_read(request.app[DESK].db, user)
    return json_response({"marked": count})
