"""The team chat (`/app/chat/`, `/app/chat/<room>/`): the caller's rooms with their unread
counts, one room's latest messages, and a form to write in it; "New room" (a name and
members from the staff directory, `POST /app/chat/rooms`) and "Direct message" (one
colleague, `POST /app/chat/direct`: the pair's room, found again rather than duplicated).
Everything goes through the same `desk` functions as `/api/chat/` and `/api/staff/` (only
participants read or write a room; anyone else gets the API's 404; customers 403), and the
API's own request model checks the forms (RoomCreate). Opening a room marks it read, as
`mark_read` does. Without JavaScript the forms post here; static/chat.js sends messages
over `/ws/chat/<room>/` instead and shows new messages and "… is typing" live."""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup, escape

from desk.auth.browser import BrowserLogin
from desk.chat import messages, rooms
from desk.chat.events import MENTION, TICKET_REF
from desk.directory import DirectoryQuery, staff
from desk.errors import DeskError, ValidationFailed
from desk.events.chat import ChatMessageView
from web.keys import DESK
from web.pages.conversation import valid
from web.pages.forms import text
from web.pages.security import page, see_other, template_context
from web.schemas import RoomCreate, row_id

SHOWN = 100  # the newest messages of a room on the page; older ones stay in the API
COLLEAGUES = 500  # the staff directory's first names offered as members (RoomCreate's cap)
# The same patterns the desk parses at save (desk.chat.events), so a link or highlight is
# exactly what made a ticket preview or a mention.
MARKUP = re.compile(f"(?P<ticket>{TICKET_REF.pattern})|(?P<mention>{MENTION.pattern})")


def body_html(body: str) -> Markup:
    """The message text escaped, with `#123` a link to the ticket's page and `@name` marked.
    A link says nothing about the ticket (its page checks access), so every number links."""
    out, at = [], 0
    for m in MARKUP.finditer(body):
        out.append(escape(body[at : m.start()]))
        text = escape(m.group(0))
        if m.group("ticket"):
            number = m.group(0)[1:]
            out.append(Markup('<a href="/app/tickets/{}/">{}</a>').format(number, text))
        else:
            out.append(Markup('<mark class="mention">{}</mark>').format(text))
        at = m.end()
    out.append(escape(body[at:]))
    return Markup("").join(out)


def _shown(m: ChatMessageView) -> dict[str, Any]:
    return {
        "id": m.id,
        "author_id": m.author_id,
        "author": m.author.name or m.author.email or f"#{m.author_id}",
        "created_at": m.created_at,
        "is_edited": m.is_edited,
        "html": body_html(m.body),
        "file": m.file,
    }


async def chat(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    chosen = int(request.match_info["room"]) if "room" in request.match_info else None
    if chosen is not None:
        await rooms.mark_read(request.app[DESK].db, login.user, chosen)  # 404 unless a member
    return await render(request, login, chosen)


async def render(
    request: web.Request,
    login: BrowserLogin,
    chosen: int | None,
    *,
    status: int = 200,
    error: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
) -> web.Response:
    """The chat page, room `chosen` open (if the caller is in it). `error`: {"form": "room"
    or "direct", "message": why}, shown in that form, which `typed` refills."""
    db, user = request.app[DESK].db, login.user
    every = await rooms.list_rooms(db, user, None)
    room = next((r for r in every if r["id"] == chosen), None)
    shown: list[dict[str, Any]] = []
    if room is not None:
        _, found, _ = await messages.list_messages(
            db, user, room_id=room["id"], search=None, offset=0, limit=SHOWN
        )
        shown = [_shown(m) for m in reversed(found)]  # newest last, as a chat reads
    people = {
        p["user"]["id"]: p["user"]["name"] or p["user"]["email"]
        for r in every
        for p in r["participants"]
    }
    _, directory = await staff(db, user, DirectoryQuery(), offset=0, limit=COLLEAGUES)
    context = template_context(
        request,
        login,
        rooms=every,
        room=room,
        messages=shown,
        people=people,
        colleagues=[p for p in directory if p["id"] != user.id],
        error=error,
        typed={"name": "", "members": [], **(typed or {})},
    )
    return aiohttp_jinja2.render_template("app/chat.html", request, context, status=status)


async def send(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The form's message, through the same desk function as `POST /api/chat/messages/`."""
    room_id = int(request.match_info["room"])
    form = await request.post()
    body = form.get("body")
    text = body if isinstance(body, str) else ""
    await messages.post(request.app[DESK], login.user, room_id, text)
    return see_other(f"/app/chat/{room_id}/")


async def new_room(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """ "New room": a group room of the name given, the caller and the members ticked, made
    by the same desk function as `POST /api/chat/rooms/`; then that room."""
    form = await request.post()
    members = [m for m in form.getall("member", []) if isinstance(m, str)]
    typed = {"name": text(form, "name").strip(), "members": members}
    try:
        asked = valid(
            RoomCreate,
            {"name": typed["name"], "type": "group", "participant_ids": _ids(members)},
        )
        if not asked.name:  # a clearer word than the desk's "a group room needs a name"
            raise ValidationFailed("Give the room a name.", field="name")
        room, _ = await rooms.create_room(
            request.app[DESK],
            login.user,
            name=asked.name,
            kind="group",
            participants=asked.participant_ids,
            project=None,
        )
    except DeskError as exc:
        error = {"form": "room", "message": exc.message}
        return await render(request, login, None, status=exc.status, error=error, typed=typed)
    return see_other(f"/app/chat/{room.id}/")


async def direct(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """ "Direct message": the room of the caller and one colleague (the one they already
    share if any, as `POST /api/chat/rooms/` with `type: direct` gives it); then that room."""
    colleague = text(await request.post(), "colleague")
    try:
        if not colleague:
            raise ValidationFailed("Choose a colleague.", field="colleague")
        asked = valid(RoomCreate, {"type": "direct", "participant_ids": _ids([colleague])})
        room, _ = await rooms.create_room(
            request.app[DESK],
            login.user,
            name="",
            kind="direct",
            participants=asked.participant_ids,
            project=None,
        )
    except DeskError as exc:
        error = {"form": "direct", "message": exc.message}
        return await render(request, login, None, status=exc.status, error=error)
    return see_other(f"/app/chat/{room.id}/")


def _ids(values: list[str]) -> list[int | str]:
    """Form values as ids where they are numbers; anything else left for RoomCreate to
    refuse by name."""
    return [row_id(v) or v for v in values]


ROUTES = [
    ("GET", "/app/chat/", page(chat)),
    ("POST", "/app/chat/rooms", page(new_room)),
    ("POST", "/app/chat/direct", page(direct)),
    ("GET", r"/app/chat/{room:[0-9]+}/", page(chat)),
    ("POST", r"/app/chat/{room:[0-9]+}/", page(send)),
]
