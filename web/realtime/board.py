"""/ws/queues/<id>/board/ (and S0's /ws/projects/<id>/tickets/): a queue's board live, for
staff. Frames: `card_moved`, `column_created`, `column_updated`, `column_deleted`, and the
ticket changes a card shows (`ticket_created`, `ticket_updated`, `status_changed`,
`assignment_updated`), each only for tickets the reader may see (web.realtime.hub).
Nothing is resumed: a client that (re)connects reads GET /api/queues/<id>/board/."""

from __future__ import annotations

from aiohttp import web

from desk.auth.access import may_in_queue
from desk.models import Queue, User
from web.keys import DESK, HUB
from web.realtime.connection import open_socket, serve, socket_route
from web.realtime.hub import FORBIDDEN, NOT_FOUND, Socket, listed
from web.schemas import row_id


def _refusal(user: User, queue: Queue | None) -> tuple[int, str] | None:
    """Why `user` may not hold this board's socket: not staff (4403), or a queue that is
    not there or not theirs (4404, members only, as GET); None when they may. Without a
    queue: the staff check alone."""
    if not user.is_staff:
        return FORBIDDEN, "boards are for agents and admins"
    if queue is not None and not may_in_queue(user, queue.id, "work"):
        return NOT_FOUND, "no such queue"
    return None


@socket_route
async def board_socket(request: web.Request) -> web.WebSocketResponse:
    ws, user, expires = await open_socket(request)
    if user is None:
        return ws
    if (refused := _refusal(user, None)) is not None:
        await ws.close(code=refused[0], message=refused[1].encode())
        return ws
    raw_id = request.match_info["id"]
    async with request.app[DESK].db.reader() as session:
        queue_id = row_id(raw_id)
        queue = await session.get(Queue, queue_id) if queue_id is not None else None
    if queue is None:
        await ws.close(code=NOT_FOUND, message=b"no such queue")
        return ws
    if (refused := _refusal(user, queue)) is not None:
        await ws.close(code=refused[0], message=refused[1].encode())
        return ws
    queue_id, db = queue.id, request.app[DESK].db

    async def recheck(reader: User) -> tuple[int, str] | None:
        """After an access change (web.realtime.hub): the same checks as on connect."""
        async with db.reader() as session:
            now = await session.get(Queue, queue_id)
        return (NOT_FOUND, "no such queue") if now is None else _refusal(reader, now)

    sub = Socket(user, ws, lambda u, e: True, recheck=recheck)
    with listed(request.app[HUB].boards, queue.id, sub):
        await serve(request, sub, expires)
    return ws
