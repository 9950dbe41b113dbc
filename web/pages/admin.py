"""The admin console (`/app/admin/`): analytics, people and settings (integrations in
admin_integrations.py, companies in admin_companies.py, mail in admin_mail.py). Site admins
only. Each page calls the same desk functions as the admin API (desk.analytics,
desk.people, desk.desk_settings), so the rules are the API's; the CSV downloads are the
API's own answers (web.handlers.analytics), asked for with `format=csv`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp import web

from desk import analytics
from desk.auth.browser import BrowserLogin
from desk.auth.password_links import invite, locked_accounts, unlock
from desk.brand_logo import remove_logo, set_logo
from desk.companies import list_companies
from desk.desk_settings import RUNTIME, change, describe
from desk.errors import DeskError
from desk.models import Role, utcnow
from desk.people import UserQuery, change_user, list_users
from web.handlers import analytics as analytics_api
from web.keys import DESK
from web.pages import forms
from web.pages.admin_layout import admin_page, render
from web.pages.charts import volume_chart
from web.pages.security import see_other
from web.schemas import is_digits

SETTING_LABELS = {
    "desk_name": "Desk name",
    "accent_colour": "Accent colour",
    "auto_reply_per_hour": "Acknowledgements per address per hour",
    "archive_after_hours": "Archive finished tickets after (hours)",
}
REPORTS = {
    "summary": analytics_api.summary,
    "volume": analytics_api.volume,
    "resolution": analytics_api.resolution,
}


async def overview(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    db = request.app[DESK].db
    days = await analytics.volume(db, 30)
    now = utcnow()
    resolution = await analytics.resolution(db, analytics.Period(now - timedelta(days=30), now))
    return render(
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
    return render(
        request,
        login,
        "people",
        users=found,
        locked=await locked_accounts(request.app[DESK], [u["email"] for u in found]),
        companies={c["id"]: c["name"] for c in await list_companies(request.app[DESK].db)},
        count=count,
        search=search or "",
        role=role or "",
        done=request.query.get("done", ""),
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


async def person_company_admin(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Make a customer their company's admin (who sees the company's requests in the
    portal), or no longer: PATCH /api/admin/users/<id>/ {"is_company_admin": ...}'s
    desk.people.change_user, with its rules (a customer with a company only)."""
    form = await request.post()
    wanted = forms.text(form, "is_company_admin") == "on"
    changes = {"is_company_admin": wanted}
    await change_user(request.app[DESK], login.user, int(request.match_info["id"]), changes)
    return see_other(
        "/app/admin/people?done=" + ("company-admin" if wanted else "not-company-admin")
    )


async def person_invite(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Mail a staff member a link to set their password (desk.auth.password_links)."""
    await invite(request.app[DESK], login.user, int(request.match_info["id"]))
    return see_other("/app/admin/people?done=invited")


async def person_unlock(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Lift the account's failed-login lockout."""
    await unlock(request.app[DESK], login.user, int(request.match_info["id"]))
    return see_other("/app/admin/people?done=unlocked")


async def settings_page(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return await _settings(request, login, error=None)


async def _settings(
    request: web.Request, login: BrowserLogin, error: str | None, status: int = 200
) -> web.Response:
    current = await describe(request.app[DESK])
    return render(
        request,
        login,
        "settings",
        current=current,
        labels=SETTING_LABELS,
        error=error,
        status=status,
    )


async def settings_save(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The run-time settings (desk.desk_settings.change: checked, audited, all or none);
    values the environment sets are shown locked and not sent."""
    form = await request.post()
    changes: dict[str, Any] = {}
    for name in RUNTIME:
        if name in form:
            raw = forms.text(form, name, 200).strip()
            changes[name] = int(raw) if is_digits(raw) else raw
    try:
        await change(request.app[DESK], login.user, changes)
    except DeskError as exc:
        # The desk names the field as the API does (accent_colour); the page by its label.
        field = str(exc.details.get("field", ""))
        message = (
            exc.message.replace(field, SETTING_LABELS[field], 1)
            if field in SETTING_LABELS
            else exc.message
        )
        return await _settings(request, login, message, exc.status)
    return see_other("/app/admin/settings?saved=1")


async def logo_save(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Upload (or, with `remove`, take away) the logo shown in the pages' header."""
    form = await request.post()
    desk = request.app[DESK]
    try:
        if forms.text(form, "remove"):
            await remove_logo(desk, login.user)
        else:
            image = form.get("logo")
            if not isinstance(image, web.FileField) or not image.filename:
                return await _settings(request, login, "Choose an image first.", 400)
            await set_logo(desk, login.user, await asyncio.to_thread(image.file.read))
    except DeskError as exc:
        return await _settings(request, login, exc.message, exc.status)
    return see_other("/app/admin/settings?saved=1")


ROUTES = [
    ("GET", "/app/admin/", admin_page(overview)),
    ("GET", r"/app/admin/reports/{name}.csv", admin_page(report_csv)),
    ("GET", "/app/admin/people", admin_page(people)),
    ("POST", r"/app/admin/people/{id:[0-9]+}", admin_page(person_update)),
    ("POST", r"/app/admin/people/{id:[0-9]+}/invite", admin_page(person_invite)),
    ("POST", r"/app/admin/people/{id:[0-9]+}/company-admin", admin_page(person_company_admin)),
    ("POST", r"/app/admin/people/{id:[0-9]+}/unlock", admin_page(person_unlock)),
    ("GET", "/app/admin/settings", admin_page(settings_page)),
    ("POST", "/app/admin/settings", admin_page(settings_save)),
    ("POST", "/app/admin/settings/logo", admin_page(logo_save)),
]
