"""The team chat over REST (the same operations are on /ws/chat/<room_id>/)."""

from __future__ import annotations

from aiohttp import web

from desk.blobs import blob_path
from desk.chat import messages, rooms
from desk.chat.events import for_reader
from desk.errors import ValidationFailed
from desk.models import User
from web.handlers.common import body_and_files, json_body, page, path_id, whole_list
from web.handlers.tickets import download
from web.keys import DESK
from web.responses import json_response
from web.schemas import (
    ChatListQuery,
    ChatMessageCreate,
    ChatMessageEdit,
    ParticipantChange,
    ReactionChange,
    RoomCreate,
    RoomListQuery,
)


async def rooms_list(request: web.Request, user: User) -> web.Response:
    q = RoomListQuery.model_validate(dict(request.query))
    found = await rooms.list_rooms(request.app[DESK].db, user, q.project)
    return whole_list(found)


async def room_create(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, RoomCreate)
    desk = request.app[DESK]
    room, created = await rooms.create_room(
        desk,
        user,
        name=body.name,
        kind=body.type,
        participants=body.participant_ids,
        project=body.project_label,
    )
    return json_response(
        await rooms.get_room(desk.db, user, room.id), status=201 if created else 200
    )


async def room_get(request: web.Request, user: User) -> web.Response:
    return json_response(await rooms.get_room(request.app[DESK].db, user, path_id(request)))


async def room_delete(request: web.Request, user: User) -> web.Response:
    await rooms.delete_room(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def room_add(request: web.Request, user: User) -> web.Response:
    return await _participant(request, user, present=True)


async def room_remove(request: web.Request, user: User) -> web.Response:
    return await _participant(request, user, present=False)


async def _participant(request: web.Request, user: User, *, present: bool) -> web.Response:
    body = await json_body(request, ParticipantChange)
    desk = request.app[DESK]
    await rooms.set_participant(desk, user, path_id(request), body.user_id, present)
    return json_response(
        {"room": path_id(request), "user_id": body.user_id, "participant": present}
    )


async def room_mark_read(request: web.Request, user: User) -> web.Response:
    await rooms.mark_read(request.app[DESK].db, user, path_id(request))
    return json_response({"room": path_id(request), "unread_count": 0})


async def messages_list(request: web.Request, user: User) -> web.Response:
    q = ChatListQuery.model_validate(dict(request.query))
    count, found, more = await messages.list_messages(
        request.app[DESK].db,
        user,
        room_id=q.room,
        search=q.search,
        offset=(q.page - 1) * q.page_size,
        limit=q.page_size,
        oldest_first=q.ordering == "created_at",
    )
    return page(request, q.page, count, [for_reader(m, user) for m in found], more)


async def message_create(request: web.Request, user: User) -> web.Response:
    # `attachment` is the part S2's front end sends its file in.
    body, uploads = await body_and_files(request, ChatMessageCreate, ("files", "attachment"))
    if len(uploads) > 1:
        raise ValidationFailed("one file per chat message", field="files")
    data = await messages.post(
        request.app[DESK], user, body.room, body.text, uploads[0] if uploads else None, body.kind
    )
    return json_response(for_reader(data, user), status=201)


async def message_edit(request: web.Request, user: User) -> web.Response:
    body = await json_body(request, ChatMessageEdit)
    data = await messages.edit(request.app[DESK], user, path_id(request), body.text)
    return json_response(for_reader(data, user))


async def message_delete(request: web.Request, user: User) -> web.Response:
    await messages.remove(request.app[DESK], user, path_id(request))
    return web.Response(status=204)


async def reaction_add(request: web.Request, user: User) -> web.Response:
    return await _reaction(request, user, add=True)


async def reaction_remove(request: web.Request, user: User) -> web.Response:
    return await _reaction(request, user, add=False)


async def _reaction(request: web.Request, user: User, *, add: bool) -> web.Response:
    body = await json_body(request, ReactionChange)
    data = await messages.react(request.app[DESK], user, path_id(request), body.emoji, add)
    return json_response(for_reader(data, user))


async def message_file(request: web.Request, user: User) -> web.StreamResponse:
    desk = request.app[DESK]
    message = await messages.message_file(desk.db, user, path_id(request))
    assert message.file_sha256 is not None
    return download(
        blob_path(desk.settings.attachments_dir, message.file_sha256),
        message.file_type or "application/octet-stream",
        message.file_name or "file",
    )
