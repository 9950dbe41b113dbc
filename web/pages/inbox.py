"""The inbox (`/app/`): the agent's ticket views, each a TicketFilter over the same list
query as `GET /api/tickets/` (desk.tickets.queries.list_tickets), so a view shows exactly
what the API would and nothing an agent may not see."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin
from desk.models import User
from desk.tickets.queries import TicketFilter, list_tickets
from web.keys import COUNTS, DESK
from web.pages.security import page, template_context

PAGE_SIZE = 50
OPEN = ("OPEN", "ASSIGNED", "IN_PROGRESS")


@dataclass(frozen=True)
class View:
    """One of the inbox's views: its URL name, its label and its filter."""

    key: str
    label: str
    filter: TicketFilter


def views(user: User) -> list[View]:
    """The views every agent has, in the order the inbox shows them."""
    return [
        View("unassigned", "Unassigned", TicketFilter(status=OPEN, unassigned=True)),
        View("mine", "Mine", TicketFilter(status=OPEN, assigned_agent=user.id)),
        View("open", "All open", TicketFilter(status=OPEN)),
        View("waiting", "Waiting on customer", TicketFilter(status=("WAITING_ON_CUSTOMER",))),
        View("done", "Resolved and closed", TicketFilter(status=("RESOLVED", "CLOSED"))),
    ]


async def inbox(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    user = login.user
    desk = request.app[DESK]
    every = views(user)
    chosen = next((v for v in every if v.key == request.query.get("view")), every[0])
    found = await list_tickets(
        desk.db, user, chosen.filter, offset=0, limit=PAGE_SIZE, counts=request.app[COUNTS]
    )
    counts = {
        v.key: (await list_tickets(desk.db, user, replace(v.filter), offset=0, limit=0)).count
        for v in every
    }
    context: dict[str, Any] = template_context(
        request, login, views=every, view=chosen, tickets=found.results, counts=counts
    )
    return aiohttp_jinja2.render_template("app/inbox.html", request, context)


ROUTES = [("GET", "/app/", page(inbox))]
