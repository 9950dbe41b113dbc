"""What every page of the admin console shares: its sections, its gate (site admins only)
and how a section is rendered."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.auth.browser import BrowserLogin
from web.pages.security import Handler, PageHandler, page, template_context

SECTIONS = [
    ("overview", "Overview", "/app/admin/"),
    ("people", "People", "/app/admin/people"),
    ("mail", "Mail", "/app/admin/mail"),
    ("integrations", "Integrations", "/app/admin/integrations"),
    ("settings", "Settings", "/app/admin/settings"),
]


def admin_page(handler: PageHandler) -> Handler:
    """A console page: site admins only (web.pages.security.page)."""
    return page(handler, admin=True)


def render(
    request: web.Request,
    login: BrowserLogin,
    section: str,
    *,
    template: str | None = None,
    status: int = 200,
    **values: Any,
) -> web.Response:
    """Section `section`'s page (templates/admin/<section>.html unless `template`)."""
    context = template_context(request, login, sections=SECTIONS, section=section, **values)
    name = template or f"admin/{section}.html"
    return aiohttp_jinja2.render_template(name, request, context, status=status)
