"""/ws/chat/<room_id>/: a room's events for its participants, and the chat's operations
sent over the socket (the REST ones, answered by the events they cause)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from desk.chat import messages
from desk.chat.rooms import member_room
from desk.context import Desk
from desk.errors import DeskError, NotFound, PermissionDenied, ValidationFailed
from web.keys import DESK, HUB
from web.realtime.connection import open_socket, serve, socket_route
from web.realtime.hub import NOT_FOUND, Socket, listed
from web.schemas import row_id


@socket_route
async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    desk = request.app[DESK]
    raw_id = request.match_info["id"]
    try:
        async with desk.db.reader() as session:
            room_id = row_id(raw_id)
            room = await member_room(session, user, room_id) if room_id is not None else None
    except (NotFound, PermissionDenied):
        room = None
    if room is None:
        await ws.close(code=NOT_FOUND, message=b"no such room")
        return ws
    sub = Socket(user, ws, lambda u, e: True, handle=partial(_chat_request, desk, room.id))
    with listed(request.app[HUB].rooms, room.id, sub):
        await serve(request, sub, expires)
    return ws


async def _chat_request(desk: Desk, room_id: int, sub: Socket, request: dict[str, Any]) -> None:
    """What a chat client sends: the REST operations, answered by the events they cause (an
    error comes back as {"type": "error", ...})."""
    kind = request.get("type")
    try:
        await _perform(desk, room_id, sub, kind, request)
    except DeskError as exc:
        await sub.ws.send_str(
            json.dumps(
                {"type": "error", "error": exc.code, "request": kind, "message": exc.message}
            )
        )


async def _perform(
    desk: Desk, room_id: int, sub: Socket, kind: object, request: dict[str, Any]
) -> None:
    if kind == "message_send":
        declared = str(request.get("message_type") or "text")
        await messages.post(desk, sub.user, room_id, _text(request), kind=declared)
    elif kind == "message_edit":
        await messages.edit(desk, sub.user, _int(request, "message_id"), _text(request))
    elif kind == "message_delete":
        await messages.remove(desk, sub.user, _int(request, "message_id"))
    elif kind in ("reaction_add", "reaction_remove"):
        await messages.react(
            desk,
            sub.user,
            _int(request, "message_id"),
            str(request.get("emoji", "")),
            kind == "reaction_add",
        )
    elif kind == "typing":
        await messages.typing(desk, sub.user, room_id, request.get("is_typing") is not False)
    else:
        raise ValidationFailed(f"unknown request type {kind!r}", field="type")


def _text(request: dict[str, Any]) -> str:
    """`body`, or `content` as S2's front end sends it."""
    return str(request.get("body", request.get("content", "")))


def _int(request: dict[str, Any], name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{name} must be a number", field=name)
    return value
