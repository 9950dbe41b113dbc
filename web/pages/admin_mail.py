"""The admin console's mail pages: stored inbound mail (failed and damaged first, each with
its reason; the headers and source, escaped; what it became and by which threading rule;
retry one or all failed), the outbox (queued, sent, failed with the error and the next
attempt; retry) and the suppression list (lift). The same desk functions as
`/api/admin/inbound/`, `/api/admin/outbox/` and `postdesk inbound show`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desk import inbound_admin, outbox_admin
from desk.auth.browser import BrowserLogin
from desk.suppressions import lift, list_suppressions
from web.keys import DESK
from web.pages.admin_layout import admin_page, render
from web.pages.security import see_other
from web.pages.words import thread_rule_in_words

PAGE_SIZE = 100


async def mail(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/app/admin/mail`: inbound first (failed and damaged first), then the outbox."""
    db = request.app[DESK].db
    state = request.query.get("inbound") or None
    inbound = await inbound_admin.list_for_admin(db, state, offset=0, limit=PAGE_SIZE)
    out_state = request.query.get("outbox") or None
    out_count, outbox = await outbox_admin.list_for_admin(db, out_state, offset=0, limit=PAGE_SIZE)
    address = request.query.get("address", "").strip() or None
    count, suppressed = await list_suppressions(db, address=address, offset=0, limit=PAGE_SIZE)
    values: dict[str, Any] = {
        "inbound": inbound,
        "inbound_state": state or "",
        "inbound_states": ["all", *inbound_admin.LISTED],
        "outbox": outbox,
        "outbox_count": out_count,
        "outbox_state": out_state or "",
        "outbox_states": list(outbox_admin.ADMIN_STATES),
        "suppressions": suppressed,
        "count": count,
        "address": address or "",
    }
    return render(request, login, "mail", **values)


async def inbound_one(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/app/admin/mail/inbound/<id>`: one stored mail, whole."""
    record = await inbound_admin.inbound_detail(request.app[DESK].db, _id(request))
    for m in record["messages"]:
        m["rule_in_words"] = thread_rule_in_words(m.get("thread_rule") or "")
    record["rule_in_words"] = thread_rule_in_words(record.get("thread_rule") or "")
    retried = bool(request.query.get("retried"))
    return render(
        request, login, "mail", template="admin/inbound.html", mail=record, retried=retried
    )


async def inbound_retry(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    mail_id = _id(request)
    await inbound_admin.retry_one(request.app[DESK].db, mail_id)
    return see_other(f"/app/admin/mail/inbound/{mail_id}?retried=1")


async def inbound_retry_failed(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await inbound_admin.retry_failed(request.app[DESK].db)
    return see_other("/app/admin/mail?inbound=failed")


async def outbox_retry(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await outbox_admin.retry_mail(request.app[DESK].db, _id(request))
    return see_other("/app/admin/mail#outbox")


async def suppression_lift(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await lift(request.app[DESK].db, _id(request))
    return see_other("/app/admin/mail#suppressions")


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


ROUTES = [
    ("GET", "/app/admin/mail", admin_page(mail)),
    ("GET", r"/app/admin/mail/inbound/{id:[0-9]+}", admin_page(inbound_one)),
    ("POST", r"/app/admin/mail/inbound/{id:[0-9]+}/retry", admin_page(inbound_retry)),
    ("POST", "/app/admin/mail/inbound/retry-failed", admin_page(inbound_retry_failed)),
    ("POST", r"/app/admin/mail/outbox/{id:[0-9]+}/retry", admin_page(outbox_retry)),
    ("POST", r"/app/admin/mail/suppressions/{id:[0-9]+}/lift", admin_page(suppression_lift)),
]
