"""The pages people open in a browser (DESIGN.md, "The browser side"): sign-in at `/login`,
the agent workspace under `/app/`. Rendered on the server from Jinja2 templates
(templates/), styled and made live by the project's own files in static/ (no framework, no
build step, nothing fetched from elsewhere). Every page calls the same `desk` functions as
the JSON API and so obeys the same access rules."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import escape

from desk.brand_logo import logo_info
from desk.config import Settings
from web.keys import DESK
from web.pages import (
    account,
    admin,
    admin_companies,
    admin_integrations,
    admin_invite,
    admin_mail,
    bell,
    chat,
    conversation,
    filters,
    inbox,
    portal,
    saved_replies,
    signin,
)
from web.pages.security import page_headers, page_not_found

HERE = Path(__file__).parent
LOGO_RULE = """.top .brand::before { content: ""; display: inline-block; width: 1.6rem;
  height: 1.6rem; vertical-align: middle; margin-right: .4rem;
  background: url("URL") center / contain no-repeat; }
"""
DEFAULT_ACCENT = Settings.__dataclass_fields__["accent_colour"].default


def setup_pages(app: web.Application) -> None:
    """Templates, the static files and the page routes, on `app`."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),  # mail is hostile: escape always
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error, not an empty cell
        # The templates ship with the code: checking each file's mtime (a stat and a
        # realpath per template per render) was CPU spent on every page for nothing.
        auto_reload=False,
    )
    env.globals["desk_name"] = DeskName(app)
    env.globals["static"] = lambda name: str(app.router["static"].url_for(filename=name))
    env.filters["iso"] = filters.iso
    env.filters["age"] = filters.age
    env.filters["ago"] = filters.ago
    env.filters["filesize"] = filters.filesize
    env.filters["duration"] = filters.duration
    env.filters["sentence"] = filters.sentence
    env.filters["address_breaks"] = filters.address_breaks
    app.on_response_prepare.append(page_headers)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    app.router.add_get("/brand.css", brand_css)
    routes = signin.ROUTES + inbox.ROUTES + portal.ROUTES + admin.ROUTES + admin_mail.ROUTES
    routes += admin_integrations.ROUTES + admin_companies.ROUTES + admin_invite.ROUTES
    routes += (
        account.ROUTES + conversation.ROUTES + chat.ROUTES + bell.ROUTES + saved_replies.ROUTES
    )
    app.middlewares.append(bell.bell_count)  # the header's count, for every page
    app.middlewares.append(page_not_found)  # inside the API's error middleware: HTML 404s
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


class DeskName:
    """The desk's name as it is now, wherever a template writes `{{ desk_name }}` (an admin
    may change it at run time: desk/desk_settings.py; the web app refreshes the settings
    per request)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def __str__(self) -> str:
        return self.app[DESK].settings.desk_name

    def __html__(self) -> str:
        return str(escape(str(self)))


async def brand_css(request: web.Request) -> web.Response:
    """The accent colour and the logo as a style sheet of our own (the pages' CSP allows
    no inline style). The colour is checked to be #rrggbb where it is set (desk.config);
    the logo's URL is ours (desk.brand_logo)."""
    desk = request.app[DESK]
    colour = desk.settings.accent_colour
    # The default leaves app.css's own accents (a lighter one for the dark scheme).
    css = "" if colour == DEFAULT_ACCENT else f":root {{ --accent: {colour}; }}\n"
    logo = await logo_info(desk.db)
    if logo is not None:
        css += LOGO_RULE.replace("URL", logo["url"])
    return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "no-cache"})
