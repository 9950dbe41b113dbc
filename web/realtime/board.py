"""/ws/queues/<id>/board/ (and S0's /ws/projects/<id>/tickets/): a queue's board live, for
staff. Frames: `card_moved`, `column_created`, `column_updated`, `column_deleted`, and the
ticket changes a card shows (`ticket_created`, `ticket_updated`, `status_changed`,
`assignment_updated`), each only for tickets the reader may see (web.realtime.hub).
Nothing is resumed: a client that (re)connects reads GET /api/queues/<id>/board/."""

from __future__ import annotations

from aiohttp import web

from desk.auth.access import may_in_queue
from desk.models import Queue
from web.keys import DESK, HUB
from web.realtime.connection import open_socket, serve
from web.realtime.hub import FORBIDDEN, NOT_FOUND, Socket, listed


async def board_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    if not user.is_staff:
        await ws.close(code=FORBIDDEN, message=b"boards are for agents and admins")
        return ws
    raw_id = request.match_info["id"]
    async with request.app[DESK].db.reader() as session:
        queue = (
            await session.get(Queue, int(raw_id)) if raw_id.isdigit() and len(raw_id) < 10 else None
        )
    if queue is None or not may_in_queue(user, queue.id, "work"):  # members only, as GET
        await ws.close(code=NOT_FOUND, message=b"no such queue")
        return ws
    sub = Socket(user, ws, lambda u, e: True)
    with listed(request.app[HUB].boards, queue.id, sub):
        await serve(request, sub, expires)
    return ws
