"""The conversation page (`/app/tickets/<id>/`) and the actions on it. Every read is
desk.tickets.conversation (ticket_detail's access rules: a ticket the agent may not see is
a 404 as in the API), every change the function the API calls (post_message,
workflow.set_status / assign / update, draft_reply). Forms post here and come back with a
303, so the page works without its script; an action the desk refuses shows the page
again with the reason.

Mail HTML is never put in the page: it is served by `message_html` into a sandboxed
frame, under a policy of its own that allows no script and no remote image until the agent
asks for them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from desk.ai.drafts import draft_reply
from desk.auth.browser import BrowserLogin
from desk.blobs import blob_path
from desk.context import Desk
from desk.errors import DeskError, ValidationFailed
from desk.models import MessageKind, Priority, Status
from desk.saved_replies import list_replies, render_reply
from desk.suppressions import recipient_warnings
from desk.tickets import workflow
from desk.tickets.conversation import (
    Conversation,
    html_with_embedded_images,
    read_conversation,
    visible_message,
)
from desk.tickets.errors import TicketNotFound
from desk.tickets.merge import merge_tickets, suggestions, unmerge_ticket
from desk.tickets.queries import ticket_detail, visible_attachment
from desk.tickets.service import post_message
from desk.tickets.teamwork import answered_since, undoable_merges
from desk.uploads import MAX_FILES, Upload, keep_upload, kept_reference, kept_uploads
from web.handlers.common import path_id
from web.handlers.tickets import download
from web.keys import DESK
from web.pages.security import page, see_other, template_context
from web.pages.words import change_in_words, status_words, thread_rule_in_words
from web.schemas import (
    Assignment,
    MessageCreate,
    StatusChange,
    TicketMergeRequest,
    TicketUpdate,
    is_digits,
    row_id,
)

PREVIEWED = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
THEN = {"WAITING_ON_CUSTOMER", "RESOLVED"}  # "Send and set ..." moves
_LIST_SEPARATORS = re.compile(r"[,;\n]")

# The policy of a frame showing mail HTML: nothing runs, nothing is fetched but inline
# styles and embedded images; `sandbox` holds even when the URL is opened on its own.
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:{remote}; "
    "font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


async def ticket_page(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return await render(request, login, path_id(request))


async def render(
    request: web.Request,
    login: BrowserLogin,
    ticket_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    composer: dict[str, str] | None = None,
    answered: list[dict[str, Any]] | None = None,
    kept: list[Upload] | None = None,
) -> web.Response:
    """The page; `error` is shown where the failed action was, `composer` refills the
    composer with what the agent typed (or the AI draft or a saved reply), `answered`
    lists the colleagues' answers the agent had not seen (the "Send anyway" warning),
    `kept` the files the refused post had already sent (carried by reference)."""
    desk = request.app[DESK]
    conv = await read_conversation(desk.db, login.user, ticket_id)
    to, cc = _participants(conv)
    addresses = [p["address"] for p in conv.ticket["participants"] if p["role"] in ("to", "cc")]
    seen = max((m["id"] for m in conv.ticket["messages"]), default=0)
    context: dict[str, Any] = template_context(
        request,
        login,
        conv=conv,
        t=conv.ticket,
        messages=[_message(conv, m) for m in conv.ticket["messages"]],
        history=[_change(conv, c) for c in reversed(conv.history)],
        statuses=[s.value for s in Status],
        priorities=[p.value for p in Priority],
        error=error,
        composer={"mode": "reply", "to": to, "cc": cc, "body": "", **(composer or {})},
        ai_drafts=desk.settings.gemini_api_key is not None,
        seen=seen,
        answered=answered or [],
        kept=kept or [],
        kept_files=kept_reference(desk.settings, login.user.id, ticket_id, kept) if kept else "",
        saved_replies=await list_replies(desk.db, login.user),
        suppressed=await recipient_warnings(desk.db, addresses),
        suggestions=await suggestions(desk.db, login.user, ticket_id),
        undoable=await undoable_merges(desk.db, ticket_id),
        sides=SIDES,
        label=_label,
        name_of=lambda uid: conv.people.get(uid, {}).get("name", "") if uid else "",
    )
    return aiohttp_jinja2.render_template("app/ticket.html", request, context, status=status)


def _participants(conv: Conversation) -> tuple[str, str]:
    """The composer's To and Cc, from the ticket's participants."""
    by_role: dict[str, list[str]] = {"to": [], "cc": []}
    for p in conv.ticket["participants"]:
        shown = f"{p['name']} <{p['address']}>" if p["name"] else p["address"]
        by_role.setdefault(p["role"], []).append(shown)
    return ", ".join(by_role["to"]), ", ".join(by_role["cc"])


def _message(conv: Conversation, m: dict[str, Any]) -> dict[str, Any]:
    """A message as the page shows it: its side (customer, agent, note, automatic, delivery
    failure), who wrote it, who it went to, why it is here, its new text and quotes."""
    author = conv.people.get(m["author_id"] or 0)
    addressed = conv.addressed.get(m["id"])
    body_new, body_text = m["body"], m["body_text"]
    return {
        **m,
        "side": _side(m),
        "author": author["name"] if author else m["sender_email"],
        "to": [_pair(p) for p in addressed.to] if addressed else [],
        "cc": [_pair(p) for p in addressed.cc] if addressed else [],
        "undelivered": addressed.undelivered if addressed else "",
        "why": thread_rule_in_words(m["thread_rule"]),
        "outsider": _outsider(conv, m),
        "quoted": _quoted(body_new, body_text),
        "attachments": [_attachment(a) for a in m["attachments"]],
    }


def _outsider(conv: Conversation, m: dict[str, Any]) -> bool:
    """A customer-side mail from someone not in the conversation now (it threaded here by
    its headers, desk/processing.py): the team's replies do not go to them."""
    if m["kind"] != MessageKind.INBOUND or not m["sender_email"]:
        return False
    return m["sender_email"].lower() not in {p["address"] for p in conv.ticket["participants"]}


def _quoted(new: str, full: str) -> str:
    """What the full text holds beyond the new text (the quoted history), or "" if nothing."""
    if full.strip() == new.strip():
        return ""
    return full[len(new) :].strip() if new and full.startswith(new) else full


SIDES = {
    "customer": "Customer",
    "agent": "Agent reply",
    "note": "Internal note",
    "automatic": "Automatic",
    "failure": "Delivery failure",
}


def _side(m: dict[str, Any]) -> str:
    if m["kind"] == MessageKind.DELIVERY_FAILURE:
        return "failure"
    if m["kind"] == MessageKind.NOTE:
        return "note"
    if m["is_automatic"]:
        return "automatic"
    return "agent" if m["kind"] == MessageKind.OUTBOUND else "customer"


def _pair(p: tuple[str, str]) -> str:
    return f"{p[0]} <{p[1]}>" if p[0] else p[1]


def _attachment(a: dict[str, Any]) -> dict[str, Any]:
    return {
        **a,
        "url": f"/app/attachments/{a['id']}",
        "preview": a["content_type"] in PREVIEWED and not a["damaged"],
    }


def _change(conv: Conversation, c: dict[str, Any]) -> dict[str, Any]:
    """A history line, its `text` a sentence after the actor's name (words.py)."""
    actor = conv.people.get(c["actor_id"] or 0)
    change = {**c, "actor": actor["name"] if actor else "postdesk"}
    if c["field"] == "assigned_agent":  # an id in the history; people read a name
        for end in ("from", "to"):
            person = conv.people.get(int(c[end])) if is_digits(str(c[end] or "")) else None
            change[end] = person["name"] if person else c[end]
    change["text"] = change_in_words(c["field"], change["from"], change["to"])
    return change


_label = status_words


async def compose(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The composer's post: a reply (to the To and Cc given) or an internal note, with
    files, through post_message; "Send and set ..." moves the status in the same action
    (the customer gets the reply, not a second mail about the status). The files are
    stored first: a post refused (the warning of an answer the agent has not seen, or any
    refusal) comes back with a signed reference to them (`kept_files`), so the next post
    sends them without their being picked again."""
    ticket_id = path_id(request)
    form = await request.post()
    mode = "note" if form.get("mode") == "note" else "reply"
    typed = {k: _text(form, k) for k in ("to", "cc", "body")} | {"mode": mode}
    desk = request.app[DESK]
    is_note = mode == "note"
    then = _text(form, "then")
    uploads: list[Upload] = []
    try:
        settings = desk.settings
        uploads = kept_uploads(settings, login.user.id, ticket_id, _text(form, "kept_files"))
        uploads += await _uploads(request, form, room=MAX_FILES - len(uploads))
        if not form.get("anyway"):
            answered = await _answered(request, login, ticket_id, _text(form, "seen"))
            if answered:
                return await render(
                    request,
                    login,
                    ticket_id,
                    status=409,
                    error=_warning(answered, kept=bool(uploads)),
                    composer=typed,
                    answered=answered,
                    kept=uploads,
                )
        asked = valid(
            MessageCreate,
            {"body": typed["body"], "is_internal": is_note}
            | ({} if is_note else {"to": _list(typed["to"]), "cc": _list(typed["cc"])})
            | ({"status": then} if then in THEN else {}),
        )
        posted = await post_message(
            desk,
            login.user,
            ticket_id,
            asked.body,
            is_note,
            uploads,
            to=asked.to,
            cc=asked.cc,
            status=asked.status,
        )
    except DeskError as exc:
        return await render(
            request,
            login,
            ticket_id,
            status=exc.status,
            error=exc.message,
            composer=typed,
            kept=uploads,
        )
    return see_other(f"/app/tickets/{ticket_id}/#message-{posted.message.id}")


async def _answered(
    request: web.Request, login: BrowserLogin, ticket_id: int, seen: str
) -> list[dict[str, Any]]:
    """Colleagues' answers and the customer's messages newer than the composer's `seen`
    (the newest message its page showed); none when the form does not say (an older page,
    a script's post)."""
    newest = row_id(seen)
    if newest is None:
        return []
    return await answered_since(request.app[DESK].db, login.user, ticket_id, newest)


def _warning(answered: list[dict[str, Any]], *, kept: bool = False) -> str:
    """ "Anna replied, Carol wrote and Bob added a note since you opened this page ..."."""
    said = {"outbound": "replied", "note": "added a note", "inbound": "wrote"}
    parts = list(dict.fromkeys(f"{a['author']} {said[a['kind']]}" for a in answered))
    who = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    yours = "your message and its files are" if kept else "your message is"
    return (
        f"{who} since you opened this page. Read it before sending: {yours} "
        "kept below, or send it anyway."
    )


async def insert_saved_reply(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Without the page's script: the page again, the saved reply (filled in for this
    ticket and this agent) added to what the composer held. The script asks GET
    /api/saved-replies/<id>/render/?ticket=<id> instead and inserts it in place."""
    ticket_id = path_id(request)
    form = await request.post()
    mode = "note" if form.get("mode") == "note" else "reply"
    typed = {k: _text(form, k) for k in ("to", "cc", "body")} | {"mode": mode}
    chosen = row_id(_text(form, "saved_reply"))
    if chosen is None:
        error = "Pick a saved reply to insert."
        return await render(request, login, ticket_id, status=400, error=error, composer=typed)
    try:
        found = await render_reply(request.app[DESK], login.user, chosen, ticket_id)
    except DeskError as exc:
        return await render(
            request, login, ticket_id, status=exc.status, error=exc.message, composer=typed
        )
    body = f"{typed['body']}\n\n{found['body']}" if typed["body"] else found["body"]
    return await render(request, login, ticket_id, composer=typed | {"body": body})


async def merge(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """ "Merge into ...": this ticket into the one named (`#42` or `42`), then to the
    result, whose page offers "Undo merge" for a minute; a refusal shows why here."""
    ticket_id = path_id(request)
    into = _text(await request.post(), "into").lstrip("#").strip()
    try:
        asked = valid(TicketMergeRequest, {"into": row_id(into) or into})
        await merge_tickets(request.app[DESK], login.user, ticket_id, asked.into)
    except DeskError as exc:
        return await render(request, login, ticket_id, status=exc.status, error=exc.message)
    return see_other(f"/app/tickets/{asked.into}/")


async def unmerge(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """ "Undo merge" (the id is the merged ticket's): back to it, as it was."""
    ticket_id = path_id(request)
    try:
        await unmerge_ticket(request.app[DESK], login.user, ticket_id)
    except DeskError as exc:
        return await render(request, login, ticket_id, status=exc.status, error=exc.message)
    return see_other(f"/app/tickets/{ticket_id}/")


M = TypeVar("M", bound=BaseModel)


def valid(model: type[M], data: dict[str, Any]) -> M:
    """The form's values checked by the API's own request model; its first complaint is the
    page's error (ValidationFailed, 400, naming the field)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "form"
        raise ValidationFailed(f"{name}: {first['msg']}", field=name) from None


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _list(value: str) -> list[str]:
    """`Ann <a@x>, b@y` -> ["Ann <a@x>", "b@y"] (names cannot hold these separators). An
    empty field is an empty list: the agent emptied Cc, so nobody is copied any more."""
    return [part.strip() for part in _LIST_SEPARATORS.split(value) if part.strip()]


async def _uploads(request: web.Request, form: MultiDictProxy[Any], room: int) -> list[Upload]:
    """The files picked or dropped, each checked (size, type) and stored as the API's; at
    most `room` of them (MAX_FILES less those kept from a refused post)."""
    settings = request.app[DESK].settings
    kept: list[Upload] = []
    for item in form.getall("files", []):
        if isinstance(item, web.FileField) and item.filename:
            if len(kept) >= room:
                raise ValidationFailed(f"at most {MAX_FILES} files", field="files")
            data = item.file.read()
            kept.append(await keep_upload(settings, item.filename, item.content_type, data))
    return kept


async def set_status(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    form = await request.post()

    async def change(desk: Desk, ticket_id: int) -> object:
        asked = valid(StatusChange, {"status": _text(form, "status")})
        return await workflow.set_status(desk, login.user, ticket_id, asked.status)

    return await _act(request, login, change)


async def set_priority(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    form = await request.post()

    async def change(desk: Desk, ticket_id: int) -> object:
        asked = valid(TicketUpdate, {"priority": _text(form, "priority")})
        return await workflow.update(
            desk, login.user, ticket_id, subject=None, priority=asked.priority, tags=None
        )

    return await _act(request, login, change)


async def set_tags(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    form = await request.post()

    async def change(desk: Desk, ticket_id: int) -> object:
        asked = valid(TicketUpdate, {"tags": _list(_text(form, "tags"))})
        return await workflow.update(
            desk, login.user, ticket_id, subject=None, priority=None, tags=asked.tags
        )

    return await _act(request, login, change)


async def set_assignee(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    chosen = _text(await request.post(), "assignee")

    async def change(desk: Desk, ticket_id: int) -> object:
        agent = row_id(chosen) or chosen or None
        asked = valid(Assignment, {"assigned_agent": agent})
        return await workflow.assign(desk, login.user, ticket_id, asked.assigned_agent)

    return await _act(request, login, change)


Change = Callable[[Desk, int], Awaitable[object]]


async def _act(request: web.Request, login: BrowserLogin, change: Change) -> web.StreamResponse:
    """Run one workflow change; back to the page, or the page with the refusal's reason.
    An agent who gave the ticket away where they no longer see it goes to the inbox."""
    ticket_id = path_id(request)
    desk = request.app[DESK]
    try:
        await change(desk, ticket_id)
    except DeskError as exc:
        return await render(request, login, ticket_id, status=exc.status, error=exc.message)
    try:
        await ticket_detail(desk.db, login.user, ticket_id)
    except TicketNotFound:
        return see_other("/app/")
    return see_other(f"/app/tickets/{ticket_id}/")


async def ai_draft(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Without the page's script: the page again, the draft in the composer (never sent).
    The script asks POST /api/tickets/<id>/ai-draft/ instead and fills the box in place."""
    ticket_id = path_id(request)
    form = await request.post()
    typed = {k: _text(form, k) for k in ("to", "cc")} | {"mode": "reply"}
    try:
        found = await draft_reply(request.app[DESK], login.user, ticket_id)
    except DeskError as exc:
        return await render(request, login, ticket_id, status=exc.status, error=exc.message)
    return await render(request, login, ticket_id, composer=typed | {"body": found["draft"]})


async def message_html(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The stored HTML of one message (sanitized with nh3 when it came in), for the page's
    sandboxed frame. Remote images only with `?images=remote` (the agent's click)."""
    desk = request.app[DESK]
    message = await visible_message(desk.db, login.user, path_id(request))
    html = await html_with_embedded_images(desk.db, desk.settings.attachments_dir, message)
    remote = request.query.get("images") == "remote"
    document = (
        '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
        "<style>body{font-family:system-ui,sans-serif;margin:.6rem;overflow-wrap:anywhere}"
        "img{max-width:100%;height:auto}</style></head><body>"
        f"{html}</body></html>"
    )
    response = web.Response(text=document, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = FRAME_CSP.format(
        remote=" https: http:" if remote else ""
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"  # links in mail learn nothing of us
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def attachment(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """GET /api/attachments/<id>/ for the pages (the cookie instead of a Bearer token)."""
    desk = request.app[DESK]
    found = await visible_attachment(desk.db, login.user, path_id(request))
    path = blob_path(desk.settings.attachments_dir, found.sha256)
    return download(path, found.content_type, found.filename)


T = "/app/tickets/{id}/"
ROUTES = [
    ("GET", T, page(ticket_page)),
    ("POST", T + "messages", page(compose)),
    ("POST", T + "status", page(set_status)),
    ("POST", T + "priority", page(set_priority)),
    ("POST", T + "assignee", page(set_assignee)),
    ("POST", T + "tags", page(set_tags)),
    ("POST", T + "ai-draft", page(ai_draft)),
    ("POST", T + "saved-reply", page(insert_saved_reply)),
    ("POST", T + "merge", page(merge)),
    ("POST", T + "unmerge", page(unmerge)),
    ("GET", "/app/messages/{id}/html", page(message_html)),
    ("GET", "/app/attachments/{id}", page(attachment)),
]
