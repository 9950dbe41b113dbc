"""The console's companies (People → Companies): every company with its email domains and
its members count; create one, rename it, remap its domains. Customers from a mapped domain
join the company at once, and so does every new customer mailing from it. The same desk
functions as `/api/admin/companies/` (desk.companies)."""

from __future__ import annotations

import re

from aiohttp import web

from desk.auth.browser import BrowserLogin
from desk.companies import add_company, change_company, list_companies
from desk.errors import DeskError, ValidationFailed
from web.keys import DESK
from web.pages import forms
from web.pages.admin_layout import admin_page, render
from web.pages.security import see_other

MAX_DOMAINS = 50  # as the API's CompanyCreate
HOME = "/app/admin/people/companies"


async def companies(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return await _companies(request, login)


async def _companies(
    request: web.Request,
    login: BrowserLogin,
    *,
    error: str | None = None,
    status: int = 200,
    draft: dict[str, str] | None = None,
) -> web.Response:
    return render(
        request,
        login,
        "people",
        template="admin/companies.html",
        companies=await list_companies(request.app[DESK].db),
        done=request.query.get("done", ""),
        error=error,
        draft=draft or {"name": "", "domains": ""},
        status=status,
    )


async def company_create(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    form = await request.post()
    draft = {"name": forms.text(form, "name", 200), "domains": forms.text(form, "domains", 5000)}
    try:
        await add_company(request.app[DESK].db, draft["name"], domains(draft["domains"]))
    except DeskError as exc:
        return await _companies(request, login, error=exc.message, status=exc.status, draft=draft)
    return see_other(f"{HOME}?done=created")


async def company_update(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    form = await request.post()
    name, typed = forms.text(form, "name", 200), forms.text(form, "domains", 5000)
    try:
        company_id = int(request.match_info["id"])
        await change_company(request.app[DESK].db, company_id, name=name, domains=domains(typed))
    except DeskError as exc:
        return await _companies(request, login, error=exc.message, status=exc.status)
    return see_other(f"{HOME}?done=saved")


def domains(typed: str) -> list[str]:
    """The domains an admin typed, separated by commas, spaces or lines."""
    found = [d for d in re.split(r"[\s,;]+", typed) if d]
    if len(found) > MAX_DOMAINS:
        raise ValidationFailed(f"at most {MAX_DOMAINS} domains", field="domains")
    return found


ROUTES = [
    ("GET", HOME, admin_page(companies)),
    ("POST", HOME, admin_page(company_create)),
    ("POST", HOME + r"/{id:[0-9]+}", admin_page(company_update)),
]
