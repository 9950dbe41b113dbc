"""The team chat (`/app/chat/`, `/app/chat/<room>/`): the caller's rooms with their unread
counts, one room's latest messages, and a form to write in it. Everything goes through the
same `desk.chat` functions as `/api/chat/` (only participants read or write a room; anyone
else gets the API's 404). Opening a room marks it read, as `mark_read` does. Without
JavaScript the form posts here; static/chat.js sends over `/ws/chat/<room>/` instead and
shows new messages and "… is typing" live."""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup, escape

from desk.auth.browser import BrowserLogin
from desk.chat import messages, rooms
from desk.chat.events import MENTION, TICKET_REF
from desk.events.chat import ChatMessageView
from web.keys import DESK
from web.pages.security import page, see_other, template_context

SHOWN = 100  # the newest messages of a room on the page; older ones stay in the API
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
    db, user = request.app[DESK].db, login.user
    chosen = int(request.match_info["room"]) if "room" in request.match_info else None
    if chosen is not None:
        await rooms.mark_read(db, user, chosen)  # NotFound (404) unless a participant
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
    context = template_context(
        request, login, rooms=every, room=room, messages=shown, people=people
    )
    return aiohttp_jinja2.render_template("app/chat.html", request, context)


async def send(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The form's message, through the same desk function as `POST /api/chat/messages/`."""
    room_id = int(request.match_info["room"])
    form = await request.post()
    body = form.get("body")
    text = body if isinstance(body, str) else ""
    await messages.post(request.app[DESK], login.user, room_id, text)
    return see_other(f"/app/chat/{room_id}/")


ROUTES = [
    ("GET", "/app/chat/", page(chat)),
    ("GET", r"/app/chat/{room:\d+}/", page(chat)),
    ("POST", r"/app/chat/{room:\d+}/", page(send)),
]
