"""The admin console (`/app/admin/`): analytics, people, integrations and the mail that
did not flow. Site admins only. Each page calls the same desk functions as the admin API
(desk.analytics, desk.people, desk.auth.api_keys, desk.webhooks, desk.jobs,
desk.suppressions), so the rules are the API's; the CSV downloads are the API's own
answers (web.handlers.analytics), asked for with `format=csv`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk import analytics
from desk.auth.api_keys import SCOPES, create_key, list_keys, revoke_key
from desk.auth.browser import BrowserLogin
from desk.jobs.runs import list_jobs
from desk.models import Role, utcnow
from desk.people import UserQuery, change_user, list_users
from desk.suppressions import lift, list_suppressions
from desk.webhooks import subscriptions as subs
from web.handlers import analytics as analytics_api
from web.keys import DESK
from web.pages import forms
from web.pages.charts import volume_chart
from web.pages.security import page, see_other, template_context

SECTIONS = [
    ("overview", "Overview", "/app/admin/"),
    ("people", "People", "/app/admin/people"),
    ("integrations", "Integrations", "/app/admin/integrations"),
    ("mail", "Mail", "/app/admin/mail"),
]
REPORTS = {"summary": analytics_api.summary, "volume": analytics_api.volume,
           "resolution": analytics_api.resolution}  # fmt: skip


def _render(request: web.Request, login: BrowserLogin, section: str, **values: Any) -> web.Response:
    context = template_context(request, login, sections=SECTIONS, section=section, **values)
    return aiohttp_jinja2.render_template(f"admin/{section}.html", request, context)


async def overview(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    db = request.app[DESK].db
    days = await analytics.volume(db, 30)
    now = utcnow()
    resolution = await analytics.resolution(db, analytics.Period(now - timedelta(days=30), now))
    return _render(
        request,
        login,
        "overview",
        summary=await analytics.summary(db),
        chart=volume_chart(days),
        days=days,
        resolution=resolution,
    )


async def report_csv(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/app/admin/reports/<name>.csv`: the analytics API's CSV answer for this admin."""
    handler = REPORTS.get(request.match_info["name"])
    if handler is None:
        raise web.HTTPNotFound()
    as_csv = request.clone(rel_url=request.rel_url.with_query({**request.query, "format": "csv"}))
    return await handler(as_csv, login.user)


async def people(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    search = request.query.get("search", "").strip() or None
    role = request.query.get("role") if request.query.get("role") in set(Role) else None
    count, found = await list_users(
        request.app[DESK].db, UserQuery(role=role, search=search), offset=0, limit=200
    )
    return _render(
        request, login, "people", users=found, count=count, search=search or "", role=role or ""
    )


async def person_update(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Role and active state from the people page (desk.people.change_user: a deactivated
    account is shut out on its next request and its sockets close)."""
    form = await request.post()
    changes: dict[str, Any] = {"is_active": forms.text(form, "is_active") == "on"}
    if forms.text(form, "role"):
        changes["role"] = forms.text(form, "role")
    await change_user(request.app[DESK], login.user, int(request.match_info["id"]), changes)
    return see_other("/app/admin/people")


async def integrations(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return await _integrations(request, login, new_key=None)


async def _integrations(
    request: web.Request, login: BrowserLogin, new_key: dict[str, Any] | None
) -> web.Response:
    desk = request.app[DESK]
    _, hooks = await subs.list_page(desk, 0, 100)
    return _render(
        request,
        login,
        "integrations",
        keys=await list_keys(desk.db),
        scopes=sorted(SCOPES),
        new_key=new_key,
        webhooks=[subs.subscription_data(h) for h in hooks],
        jobs=await list_jobs(desk.db),
    )


async def key_create(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A new API key, shown on this answer only (it is stored as a hash)."""
    form = await request.post()
    scopes = [s for s in form.getall("scopes", []) if isinstance(s, str)]
    created = await create_key(
        request.app[DESK].db, login.user, forms.text(form, "name", 200), scopes
    )
    return await _integrations(request, login, new_key=created)


async def key_revoke(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await revoke_key(request.app[DESK].db, int(request.match_info["id"]))
    return see_other("/app/admin/integrations")


async def mail(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    address = request.query.get("address", "").strip() or None
    count, suppressed = await list_suppressions(
        request.app[DESK].db, address=address, offset=0, limit=200
    )
    return _render(
        request, login, "mail", suppressions=suppressed, count=count, address=address or ""
    )


async def suppression_lift(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await lift(request.app[DESK].db, int(request.match_info["id"]))
    return see_other("/app/admin/mail")


def _admin(handler: Any) -> Any:
    return page(handler, admin=True)


ROUTES = [
    ("GET", "/app/admin/", _admin(overview)),
    ("GET", r"/app/admin/reports/{name}.csv", _admin(report_csv)),
    ("GET", "/app/admin/people", _admin(people)),
    ("POST", r"/app/admin/people/{id:\d+}", _admin(person_update)),
    ("GET", "/app/admin/integrations", _admin(integrations)),
    ("POST", "/app/admin/integrations/keys", _admin(key_create)),
    ("POST", r"/app/admin/integrations/keys/{id:\d+}/revoke", _admin(key_revoke)),
    ("GET", "/app/admin/mail", _admin(mail)),
    ("POST", r"/app/admin/mail/suppressions/{id:\d+}/lift", _admin(suppression_lift)),
]
