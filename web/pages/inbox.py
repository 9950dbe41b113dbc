"""The inbox (`/app/`): the agent's ticket views, each a TicketFilter over the same list
query as `GET /api/tickets/` (desk.tickets.queries.list_tickets), and search through the
same function as `GET /api/tickets/search/`, so a view shows exactly what the API would and
nothing an agent may not see.

Query parameters: `view` (a view's key: `unassigned`, `mine`, `open`, `waiting`, `done`,
`tag:<name>`, `queue:<id>`), `sort` (`updated`, `created`, `priority`), `q` (the full-text
syntax of the search endpoint) and `page` (from 1)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from desk.auth.access import may_in_queue
from desk.auth.browser import BrowserLogin
from desk.errors import ValidationFailed
from desk.models import User
from desk.queues.service import queue_names
from desk.search.tickets import search_tickets
from desk.tickets.inbox import row_details, tag_names
from desk.tickets.queries import TicketFilter, count_tickets, list_tickets
from web.keys import COUNTS, DESK
from web.pages.security import page, template_context
from web.schemas import is_digits

PAGE_SIZE = 50
OPEN = ("OPEN", "ASSIGNED", "IN_PROGRESS")
SORTS = {"updated": "-updated_at", "created": "-created_at", "priority": "-priority"}


@dataclass(frozen=True)
class View:
    """One of the inbox's views: its key in the URL, its label and its filter."""

    key: str
    label: str
    filter: TicketFilter
    group: str = "views"  # views | tags | queues: where the side list shows it


async def views(request: web.Request, user: User) -> list[View]:
    """The views `user` has, in the order the inbox shows them: the fixed ones, then one
    per tag on tickets they may see, then one per queue they are a member of (site admins:
    every queue) when that makes more than one."""
    db = request.app[DESK].db
    fixed = [
        View("unassigned", "Unassigned", TicketFilter(status=OPEN, unassigned=True)),
        View("mine", "Mine", TicketFilter(status=OPEN, assigned_agent=user.id)),
        View("open", "All open", TicketFilter(status=OPEN)),
        View("waiting", "Waiting on customer", TicketFilter(status=("WAITING_ON_CUSTOMER",))),
        View("done", "Resolved and closed", TicketFilter(status=("RESOLVED", "CLOSED"))),
    ]
    tags = [View(f"tag:{t}", t, TicketFilter(tag=t), "tags") for t in await tag_names(db, user)]
    # The queues the user works in (site admins: all), not every team's name.
    queues = [(i, n) for i, n in await queue_names(db, user) if may_in_queue(user, i, "work")]
    by_queue = [
        View(f"queue:{i}", name, TicketFilter(status=OPEN, queue=i), "queues") for i, name in queues
    ]
    return fixed + tags + (by_queue if len(by_queue) > 1 else [])


async def inbox(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    user, desk = login.user, request.app[DESK]
    every = await views(request, user)
    chosen = next((v for v in every if v.key == request.query.get("view")), every[0])
    sort = request.query.get("sort", "updated")
    wanted = replace(chosen.filter, ordering=SORTS.get(sort, SORTS["updated"]))
    number = _page_number(request.query.get("page", "1"))
    typed = request.query.get("q", "").strip()
    offset = (number - 1) * PAGE_SIZE
    query, refused = typed, _search_problem(typed)
    if query and refused is None:
        try:
            count, tickets, more = await search_tickets(
                desk.db, user, query, wanted, offset=offset, limit=PAGE_SIZE
            )
        except ValidationFailed as exc:  # the syntax's refusal ("-" alone, a lone quote)
            refused = exc.message
    if refused is not None:
        query = ""  # the view's list, unsearched, with the reason beside the search box
    if not query:
        found = await list_tickets(
            desk.db, user, wanted, offset=offset, limit=PAGE_SIZE, counts=request.app[COUNTS]
        )
        count, tickets, more = found.count, found.results, found.has_more
    details = await row_details(desk.db, user, [t["id"] for t in tickets])
    for t in tickets:
        t["details"] = details.get(t["id"])
        # desk.search.engines.snippets escapes the text and adds only <mark> tags.
        t["snippet"] = Markup(t["snippet"]) if t.get("snippet") else None  # noqa: S704
    counts = await _counts(request, user, every, chosen, None if query else count)
    context: dict[str, Any] = template_context(
        request,
        login,
        views=every,
        view=chosen,
        tickets=tickets,
        counts=counts,
        count=count,
        sort=sort,
        sorts=list(SORTS),
        q=query,
        typed=typed.replace("\x00", "\ufffd"),  # HTML cannot carry a NUL
        search_error=refused,
        page_number=number,
        has_more=more,
    )
    status = 400 if refused else 200
    return aiohttp_jinja2.render_template("app/inbox.html", request, context, status=status)


SEARCH_LIMIT = 500  # characters, as the search API (web.schemas.TicketSearchQuery)


def _search_problem(typed: str) -> str | None:
    """Why the search box's text cannot be searched before asking the search (the API's
    limits: no NUL, at most SEARCH_LIMIT characters), or None."""
    if "\x00" in typed:
        return "the search must not contain the NUL character (U+0000)"
    if len(typed) > SEARCH_LIMIT:
        return f"a search is at most {SEARCH_LIMIT} characters"
    return None


async def _counts(
    request: web.Request, user: User, every: list[View], chosen: View, listed: int | None
) -> dict[str, int]:
    """Each view's count (exact below 1,000; see CountCache), by key; the chosen view's is
    `listed` when its page was listed (not searched). Counting reads no rows."""
    counted = [v for v in every if listed is None or v is not chosen]
    numbers = await count_tickets(
        request.app[DESK].db, user, [v.filter for v in counted], request.app[COUNTS]
    )
    counts = {v.key: n for v, n in zip(counted, numbers, strict=True)}
    if listed is not None:
        counts[chosen.key] = listed
    return counts


def _page_number(value: str) -> int:
    return int(value) if is_digits(value) and 0 < int(value) < 100_000 else 1


ROUTES = [("GET", "/app/", page(inbox))]
