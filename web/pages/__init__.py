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

from web.keys import DESK
from web.pages import admin, conversation, filters, inbox, portal, signin
from web.pages.security import page_headers

HERE = Path(__file__).parent


def setup_pages(app: web.Application) -> None:
    """Templates, the static files and the page routes, on `app`."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),  # mail is hostile: escape always
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error, not an empty cell
    )
    env.globals["desk_name"] = app[DESK].settings.desk_name
    env.globals["static"] = lambda name: str(app.router["static"].url_for(filename=name))
    env.filters["iso"] = filters.iso
    env.filters["age"] = filters.age
    env.filters["filesize"] = filters.filesize
    env.filters["duration"] = filters.duration
    app.on_response_prepare.append(page_headers)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    routes = signin.ROUTES + inbox.ROUTES + portal.ROUTES + admin.ROUTES + conversation.ROUTES
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
