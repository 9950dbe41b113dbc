"""The customer portal (`/portal/`): a customer's requests, one request's public
conversation with a reply box, and a form for a new request. Every read and write goes
through the same desk functions as the API (list_tickets, ticket_detail, post_message,
create_ticket, set_status), so the API's access rules hold: a customer sees their own
requests (a company admin their company's), never a note, never another's ticket."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin
from desk.blobs import blob_path
from desk.models import MessageKind, Status
from desk.tickets import workflow
from desk.tickets.inbox import company_people, row_details
from desk.tickets.queries import TicketFilter, list_tickets, ticket_detail, visible_attachment
from desk.tickets.service import create_ticket, post_message
from desk.uploads import Upload
from web.handlers.common import path_id
from web.handlers.tickets import download
from web.keys import DESK
from web.pages import conversation, forms
from web.pages.security import page, render_error, see_other, template_context
from web.schemas import is_digits

FINISHED = ("RESOLVED", "CLOSED")
PLAIN_STATUS = {
    # Issue 18's words: a new or reopened request is one we are working on.
    "OPEN": "We are working on it",
    "ASSIGNED": "We are working on it",
    "IN_PROGRESS": "We are working on it",
    "WAITING_ON_CUSTOMER": "Waiting for your answer",
    "RESOLVED": "Resolved",
    "CLOSED": "Closed",
}
PUBLIC_KINDS = (MessageKind.INBOUND.value, MessageKind.OUTBOUND.value)


async def requests(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/portal/`: open requests first, then finished ones; `?person=` for company admins."""
    user, db = login.user, request.app[DESK].db
    people = await company_people(db, user)
    person = request.query.get("person", "")
    chosen = int(person) if is_digits(person) and int(person) in dict(people) else None
    # A person asked for who is not one of the company's shows nobody's requests: the
    # filter narrows or finds nothing, it never silently widens to everyone.
    unknown = bool(person) and chosen is None
    lists: dict[str, list[dict[str, Any]]] = {"open": [], "finished": []}
    for key, statuses in (("open", _open_statuses()), ("finished", FINISHED)):
        if unknown:
            continue
        wanted = TicketFilter(status=statuses, customer=chosen, archived="all")
        found = await list_tickets(db, user, wanted, offset=0, limit=100)
        lists[key] = found.results
    every = lists["open"] + lists["finished"]
    details = await row_details(db, user, [t["id"] for t in every])
    for t in every:
        t["plain_status"] = PLAIN_STATUS[t["status"]]
        t["details"] = details.get(t["id"])
    context = template_context(
        request, login, lists=lists, people=people, person=chosen, unknown=unknown
    )
    return aiohttp_jinja2.render_template("portal/requests.html", request, context)


def _open_statuses() -> tuple[str, ...]:
    return tuple(s.value for s in Status if s.value not in FINISHED)


async def request_page(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/portal/tickets/<id>/`: the public conversation and what the customer may do."""
    ticket_id = path_id(request)
    detail = await ticket_detail(request.app[DESK].db, login.user, ticket_id)
    return _render_request(request, login, detail)


def _render_request(
    request: web.Request,
    login: BrowserLogin,
    detail: dict[str, Any],
    error: str | None = None,
    status: int = 200,
    draft: str = "",
) -> web.Response:
    # Automatic mail (an out-of-office) is kept for the team; the portal shows people.
    messages = [
        {**m, "writer": _writer(login, detail, m), "quoted": ""}
        for m in detail["messages"]
        if m["kind"] in PUBLIC_KINDS and not m["is_automatic"]
    ]
    context = template_context(
        request,
        login,
        ticket=detail,
        messages=messages,
        plain_status=PLAIN_STATUS[detail["status"]],
        may_resolve=detail["status"] != "CLOSED" and detail["status"] != "RESOLVED",
        may_reopen=detail["status"] == "RESOLVED",
        error=error,
        draft=draft,
    )
    return aiohttp_jinja2.render_template("portal/request.html", request, context, status=status)


def _writer(login: BrowserLogin, detail: dict[str, Any], m: dict[str, Any]) -> str:
    """Who wrote a message, as the viewer reads it: "You" for their own, the desk for the
    team's ("": the template writes the desk's name), and a colleague's name (a company
    admin reads the company's requests)."""
    if m["kind"] != MessageKind.INBOUND.value:
        return ""
    mine = m["author_id"] == login.user.id if m["author_id"] else None
    if mine is None:
        mine = m["sender_email"].strip().lower() == login.user.email.strip().lower()
    if mine:
        return "You"
    names = {p["address"].lower(): p["name"] for p in detail["participants"]}
    return names.get(m["sender_email"].lower()) or m["sender_email"] or "Someone"


async def reply(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A reply from the portal: threaded into the ticket as a mail from the customer would
    be, with its files; the assignee hears of it as of a mail (post_message). A reply that
    cannot go (empty, too long, a file refused) shows the request again with the reason
    and the typed text kept."""
    ticket_id = path_id(request)
    form = await request.post()
    body = forms.text(form, "body", forms.MESSAGE_LIMIT + 1).strip()
    desk = request.app[DESK]
    problem = forms.too_long(body) if body else "Write a message first."
    files: list[Upload] = []
    if problem is None:
        files, problem = await forms.uploads_or_problem(request, form)
    if problem is not None:
        detail = await ticket_detail(desk.db, login.user, ticket_id)
        return _render_request(request, login, detail, problem, 400, draft=body)
    await post_message(desk, login.user, ticket_id, body, False, files)
    return see_other(f"/portal/tickets/{ticket_id}/#latest")


async def change_status(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """ "This is solved" (RESOLVED) and "Reopen" (OPEN), as the workflow lets a customer."""
    ticket_id = path_id(request)
    form = await request.post()
    wanted = {"resolve": "RESOLVED", "reopen": "OPEN"}.get(forms.text(form, "action"))
    if wanted is None:
        # Whose the ticket is comes first: someone else's is a 404 whatever was asked,
        # as a missing one is, so the answer never tells that it exists.
        await ticket_detail(request.app[DESK].db, login.user, ticket_id)
        return render_error(request, 400, "That is not something a request can do.")
    await workflow.set_status(request.app[DESK], login.user, ticket_id, wanted)
    return see_other(f"/portal/tickets/{ticket_id}/")


async def new_request_form(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    context = template_context(request, login, subject="", description="", error=None)
    return aiohttp_jinja2.render_template("portal/new.html", request, context)


async def new_request(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A new request, acknowledged by mail as one sent by mail would be (create_ticket). One
    that cannot go (a field missing, too long, a file refused) shows the form again with
    the reason and what was typed."""
    form = await request.post()
    subject = forms.text(form, "subject", 300).strip()
    description = forms.text(form, "description", forms.MESSAGE_LIMIT + 1).strip()
    problem = None if subject and description else "Give your request a subject and a description."
    problem = problem or forms.too_long(description)
    files: list[Upload] = []
    if problem is None:
        files, problem = await forms.uploads_or_problem(request, form)
    if problem is not None:
        context = template_context(
            request, login, subject=subject, description=description, error=problem
        )
        return aiohttp_jinja2.render_template("portal/new.html", request, context, status=400)
    ticket = await create_ticket(
        request.app[DESK],
        login.user,
        subject=subject,
        description=description,
        priority="MEDIUM",
        uploads=files,
    )
    return see_other(f"/portal/tickets/{ticket.id}/")


async def attachment(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A file of a message the customer may see, as a download (web.handlers.tickets)."""
    desk = request.app[DESK]
    found = await visible_attachment(desk.db, login.user, path_id(request))
    path = blob_path(desk.settings.attachments_dir, found.sha256)
    return download(path, found.content_type, found.filename)


def _customer(handler: Any) -> Any:
    return page(handler, staff=False, customer=True)


ROUTES = [
    ("GET", "/portal/", _customer(requests)),
    ("GET", "/portal/new", _customer(new_request_form)),
    ("POST", "/portal/new", _customer(new_request)),
    ("GET", "/portal/tickets/{id}/", _customer(request_page)),
    ("POST", "/portal/tickets/{id}/reply", _customer(reply)),
    ("POST", "/portal/tickets/{id}/status", _customer(change_status)),
    ("GET", "/portal/attachments/{id}", _customer(attachment)),
    # Mail HTML in the request's sandboxed frame: the workspace's own handler and policy
    # (visible_message keeps a customer to the public messages of their own requests).
    ("GET", "/portal/messages/{id}/html", page(conversation.message_html, staff=False)),
]
