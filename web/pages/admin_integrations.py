"""The console's Integrations section: API keys (shown once), webhooks with their delivery
log (redeliver one, turn a webhook off and on), the IMAP mailboxes with their last sync and
error, and the scheduled jobs. The same desk functions as `/api/admin/keys/`,
`/api/webhooks/` (desk.webhooks) and `/api/admin/jobs/`; the mailboxes' state is what the
IMAP pollers wrote to the database (desk.imap_mailboxes), so every replica can show it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desk.auth.api_keys import SCOPES, create_key, list_keys, revoke_key
from desk.auth.browser import BrowserLogin
from desk.errors import DeskError, ValidationFailed
from desk.imap_mailboxes import mailbox_states
from desk.jobs.runs import list_jobs
from desk.webhooks import subscriptions as subs
from desk.webhooks.queue import redeliver
from web.keys import DESK
from web.pages import forms
from web.pages.admin_layout import admin_page, render
from web.pages.security import see_other

DELIVERIES_SHOWN = 50  # the newest; the API pages through the rest
DONE = {
    "redelivered": "Queued to be delivered again now.",
    "off": "Turned off.",
    "on": "Turned on.",
}


async def integrations(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    return await _integrations(request, login, new_key=None)


async def _integrations(
    request: web.Request,
    login: BrowserLogin,
    new_key: dict[str, Any] | None,
    *,
    new_hook: dict[str, Any] | None = None,
    hook_error: str | None = None,
    hook_draft: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    desk = request.app[DESK]
    _, hooks = await subs.list_page(desk, 0, 100)
    return render(
        request,
        login,
        "integrations",
        keys=await list_keys(desk.db),
        scopes=sorted(SCOPES),
        new_key=new_key,
        webhooks=[subs.subscription_data(h) for h in hooks],
        mailboxes=await mailbox_states(desk.db, desk.settings.imap_urls),
        jobs=await list_jobs(desk.db),
        event_choices=[*subs.PATTERNS, *subs.EVENT_TYPES],
        new_hook=new_hook,
        hook_error=hook_error,
        hook_draft=hook_draft or {"url": "", "events": [], "description": ""},
        status=status,
    )


async def key_create(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A new API key, shown on this answer only (it is stored as a hash)."""
    form = await request.post()
    scopes = [s for s in form.getall("scopes", []) if isinstance(s, str)]
    created = await create_key(
        request.app[DESK].db, login.user, forms.text(form, "name", 200), scopes
    )
    return await _integrations(request, login, new_key=created)


async def webhook_create(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """A new webhook through desk.webhooks.subscriptions.create, as POST /api/webhooks/:
    its checks (known events, a public destination unless private ones are allowed, a
    well-formed secret). A secret left empty is made here and shown on this answer only; a
    refusal shows the form again with the reason and what was typed."""
    form = await request.post()
    url, description = forms.text(form, "url", 2000).strip(), forms.text(form, "description", 200)
    events = [e for e in form.getall("events", []) if isinstance(e, str)][:50]
    draft: dict[str, Any] = {"url": url, "events": events, "description": description.strip()}
    secret = forms.text(form, "secret", 200).strip() or None
    try:
        if not url:
            raise ValidationFailed("give the address the events are sent to", field="url")
        hook = await subs.create(
            request.app[DESK],
            login.user,
            url=url,
            events=events,
            secret=secret,
            description=draft["description"],
            is_active=True,
        )
    except DeskError as exc:
        return await _integrations(
            request, login, None, hook_error=exc.message, hook_draft=draft, status=exc.status
        )
    created = subs.subscription_data(hook, with_secret=secret is None)
    return await _integrations(request, login, None, new_hook=created)


async def key_revoke(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    await revoke_key(request.app[DESK].db, _id(request))
    return see_other("/app/admin/integrations")


async def webhook(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """`/app/admin/integrations/webhooks/<id>`: one webhook and its newest deliveries, each
    with its state, last HTTP status, attempts, error and next attempt."""
    desk, hook_id = request.app[DESK], _id(request)
    hook = subs.subscription_data(await subs.get(desk, hook_id))
    count, deliveries = await subs.deliveries_page(desk, hook_id, 0, DELIVERIES_SHOWN)
    done = DONE.get(request.query.get("done", ""))
    return render(
        request,
        login,
        "integrations",
        template="admin/webhook.html",
        hook=hook,
        deliveries=deliveries,
        count=count,
        done=done,
    )


async def webhook_switch(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """Turn a webhook off (nothing more is queued for it, and what is queued is settled as
    failed, not sent) or on again (a fresh start: its failure streak is forgotten)."""
    form = await request.post()
    turn_on = forms.text(form, "active") == "on"
    hook_id = _id(request)
    await subs.change(request.app[DESK], hook_id, {"is_active": turn_on})
    return see_other(
        f"/app/admin/integrations/webhooks/{hook_id}?done={'on' if turn_on else 'off'}"
    )


async def delivery_redeliver(request: web.Request, login: BrowserLogin) -> web.StreamResponse:
    """The same delivery again, due now (same webhook-id; desk.webhooks.queue.redeliver)."""
    hook_id = _id(request)
    await redeliver(request.app[DESK].db, hook_id, _id(request, "d"))
    return see_other(f"/app/admin/integrations/webhooks/{hook_id}?done=redelivered")


def _id(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


HOOK = r"/app/admin/integrations/webhooks/{id:[0-9]+}"
ROUTES = [
    ("GET", "/app/admin/integrations", admin_page(integrations)),
    ("POST", "/app/admin/integrations/keys", admin_page(key_create)),
    ("POST", "/app/admin/integrations/webhooks", admin_page(webhook_create)),
    ("POST", r"/app/admin/integrations/keys/{id:[0-9]+}/revoke", admin_page(key_revoke)),
    ("GET", HOOK, admin_page(webhook)),
    ("POST", HOOK + "/switch", admin_page(webhook_switch)),
    ("POST", HOOK + r"/deliveries/{d:[0-9]+}/redeliver", admin_page(delivery_redeliver)),
]
