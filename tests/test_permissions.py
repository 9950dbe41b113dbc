"""The permission matrix: every endpoint x every role x own/other resource, with the exact
status each must get. Ticket A belongs to carol (company Example, whose admin is cora) and
is assigned to agent1; ticket B belongs to dave (no company) and is assigned to agent2.
Each request is one a client could really send; success must not widen what the next role
sees, so the payloads are chosen to be repeatable (resolving twice is still resolved)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from desk.models import InboundMail, Notification, OutboxMail, Suppression, User
from tests.people import PASSWORD, Team
from tests.support import rows, wait_for
from web.routes import ROUTES

ROLES = ("carol", "dave", "cora", "agent1", "agent2", "admin", "anonymous", "deactivated")
CUSTOMERS = ("carol", "dave", "cora")
STAFF = ("agent1", "agent2", "admin")
SEES = {"A": {"carol", "cora", "agent1", "admin"}, "B": {"dave", "agent2", "admin"}}
OWNS = {"A": "carol", "B": "dave"}
ASSIGNEE = {"A": "agent1", "B": "agent2"}


def per_ticket(
    ok: int,
    *,
    customer: int | None = None,
    owner: int | None = None,
    staff_only: bool = False,
    hidden_from_customers: bool = False,
) -> Callable[[str, str], int]:
    """Expected status for (role, ticket): 404 when the role may not see the ticket;
    otherwise `ok`, or `customer` for customers who see it (`owner` for its own customer)."""

    def expect(role: str, ticket: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role not in SEES[ticket]:
            return 404
        if role in CUSTOMERS:
            if hidden_from_customers:
                return 404
            if staff_only:
                return 403
            if owner is not None and role == OWNS[ticket]:
                return owner
            return customer if customer is not None else ok
        return ok

    return expect


def per_role(customer: int, staff: int, admin: int | None = None) -> Callable[[str, str], int]:
    def expect(role: str, _ticket: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role == "admin" and admin is not None:
            return admin
        return staff if role in STAFF else customer

    return expect


ROOM_MEMBERS = {"A": {"agent1", "admin"}, "B": {"agent2"}}  # A: agent1's room with the admin
ROOM_CREATOR = {"A": "agent1", "B": "agent2"}  # B: agent2's room alone


def per_room(
    ok: int, *, manage: bool = False, author_only: bool = False, gone: bool = False
) -> Callable[[str, str], int]:
    """Chat: customers 403; non-participants 404 (admins manage any room); with `manage`,
    a participant who is neither creator nor admin 403; with `author_only`, a participant
    who did not write the message 403. `gone`: the request deletes the thing, so roles
    after the first success find nothing (404); `expect.reset()` starts over."""
    done: set[str] = set()

    def expect(role: str, room: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role in CUSTOMERS:
            return 403
        if room in done:
            return 404
        member = role in ROOM_MEMBERS[room]
        creator = role == ROOM_CREATOR[room]
        if manage and role == "admin":
            allowed = True
        elif not member:
            return 404
        else:
            allowed = creator if (manage or author_only) else True
        if gone and allowed:
            done.add(room)
        return ok if allowed else 403

    expect.reset = done.clear  # type: ignore[attr-defined]
    return expect


def per_entry(ok: int, *, gone: bool = False) -> Callable[[str, str], int]:
    """A time entry on each ticket, logged by its assignee: customers 403 (staff only);
    its author and site admins `ok`; other staff 404 if they may not see its ticket (403
    if they may). `gone`: the first allowed role deletes it, the roles after find nothing."""
    done: set[str] = set()

    def expect(role: str, ticket: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role in CUSTOMERS:
            return 403
        if ticket in done:
            return 404
        if role in (ASSIGNEE[ticket], "admin"):
            if gone:
                done.add(ticket)
            return ok
        return 403 if role in SEES[ticket] else 404

    expect.reset = done.clear  # type: ignore[attr-defined]
    return expect


def per_reply(ok: int, *, gone: bool = False) -> Callable[[str, str], int]:
    """Saved replies: customers 403; agent1 wrote the one in the world, so agent1 and the
    admin change it, agent2 gets 403. `gone`: after the first success, 404."""
    done: set[str] = set()

    def expect(role: str, _ticket: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role in CUSTOMERS:
            return 403
        if "reply" in done:
            return 404
        if role == "agent2":
            return 403
        if gone:
            done.add("reply")
        return ok

    expect.reset = done.clear  # type: ignore[attr-defined]
    return expect


def merged_once() -> Callable[[str, str], int]:
    """Merging a ticket into another of the same customer and assignee: the first staff
    member who sees it merges it (200); after that it is merged already (409)."""
    done: set[str] = set()

    def expect(role: str, ticket: str) -> int:
        if role in ("anonymous", "deactivated"):
            return 401
        if role not in SEES[ticket]:
            return 404
        if role in CUSTOMERS:
            return 403
        if ticket in done:
            return 409
        done.add(ticket)
        return 200

    expect.reset = done.clear  # type: ignore[attr-defined]
    return expect


def own_notification(role: str, _ticket: str) -> int:
    """agent1's notification (the world assigned them ticket A): theirs alone."""
    if role in ("anonymous", "deactivated"):
        return 401
    return 200 if role == "agent1" else 404


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {t}: the ticket's id; {att}/{note_att}: attachment ids; {user}, {company},
    # {key}, {hook}, {delivery}
    expect: Callable[[str, str], int]
    body: Callable[[str, dict[str, Any]], dict[str, Any] | None] = lambda role, w: None
    prepare: str = ""  # "resolved" | "archived": the tickets' state before the requests
    tickets: tuple[str, ...] = ("A", "B")
    extra: dict[str, Any] = field(default_factory=dict)


def _assignee(role: str, w: dict[str, Any]) -> dict[str, Any]:
    return {"assigned_agent": w["assignee"]}


ADMIN_ONLY = per_role(403, 403, admin=200)
CASES: dict[str, Case] = {
    "ticket list": Case("GET", "/api/tickets/", per_role(200, 200), tickets=("-",)),
    "ticket create": Case(
        "POST",
        "/api/tickets/",
        per_role(201, 201),  # staff naming no customer open an internal ticket
        tickets=("-",),
        body=lambda r, w: {"subject": "s", "description": "d"},
    ),
    "ticket get": Case("GET", "/api/tickets/{t}/", per_ticket(200)),
    "ticket search": Case(
        "GET", "/api/tickets/search/?q=ticket", per_role(200, 200), tickets=("-",)
    ),
    "ticket patch": Case(
        "PATCH",
        "/api/tickets/{t}/",
        per_ticket(200, staff_only=True),
        body=lambda r, w: {"priority": "MEDIUM"},
    ),
    "message": Case(
        "POST",
        "/api/tickets/{t}/messages/",
        per_ticket(201),
        body=lambda r, w: {"body": f"hello from {r}"},
    ),
    "internal note": Case(
        "POST",
        "/api/tickets/{t}/messages/",
        per_ticket(201, staff_only=True),
        body=lambda r, w: {"body": "psst", "is_internal": True},
    ),
    "set-status": Case(
        "POST",
        "/api/tickets/{t}/set-status/",
        per_ticket(200, customer=403, owner=200),
        body=lambda r, w: {"status": "RESOLVED"},
    ),
    "assign": Case(
        "POST", "/api/tickets/{t}/assign/", per_ticket(200, staff_only=True), body=_assignee
    ),
    "archive": Case(
        "POST", "/api/tickets/{t}/archive/", per_ticket(200, staff_only=True), prepare="resolved"
    ),
    "unarchive": Case(
        "POST", "/api/tickets/{t}/unarchive/", per_ticket(200, staff_only=True), prepare="archived"
    ),
    "history": Case("GET", "/api/tickets/{t}/history/", per_ticket(200)),
    "ticket export": Case(
        "GET", "/api/tickets/export/?format=csv", per_role(403, 200), tickets=("-",)
    ),
    "time entries": Case("GET", "/api/tickets/{t}/time/", per_ticket(200, staff_only=True)),
    "time log": Case(
        "POST",
        "/api/tickets/{t}/time/",
        per_ticket(201, staff_only=True),
        body=lambda r, w: {"minutes": 15, "note": f"by {r}"},
    ),
    "time edit": Case(
        "PATCH", "/api/time/{entry}/", per_entry(200), body=lambda r, w: {"minutes": 20}
    ),
    "time export": Case("GET", "/api/time/export/?format=csv", per_role(403, 200), tickets=("-",)),
    "analytics time": Case("GET", "/api/analytics/time/", ADMIN_ONLY, tickets=("-",)),
    # No Gemini key in these tests: staff who may open the ticket get 503 ai_unavailable.
    "ai draft": Case("POST", "/api/tickets/{t}/ai-draft/", per_ticket(503, staff_only=True)),
    "attachment": Case("GET", "/api/attachments/{att}/", per_ticket(200)),
    "note attachment": Case(
        "GET", "/api/attachments/{note_att}/", per_ticket(200, hidden_from_customers=True)
    ),
    "me": Case("GET", "/api/me/", per_role(200, 200), tickets=("-",)),
    "me patch": Case(
        "PATCH",
        "/api/me/",
        per_role(200, 200),
        tickets=("-",),
        body=lambda r, w: {"name": "Renamed"},
    ),
    "availability": Case("GET", "/api/me/availability/", per_role(403, 200), tickets=("-",)),
    "availability set": Case(
        "POST",
        "/api/me/availability/",
        per_role(403, 200),
        tickets=("-",),
        body=lambda r, w: {"is_available": True},
    ),
    "users": Case("GET", "/api/admin/users/", ADMIN_ONLY, tickets=("-",)),
    "user create": Case(
        "POST",
        "/api/admin/users/",
        per_role(403, 403, admin=201),
        tickets=("-",),
        body=lambda r, w: {"email": f"made-by-{r}@example.org", "role": "customer"},
    ),
    "user get": Case("GET", "/api/admin/users/{user}/", ADMIN_ONLY, tickets=("-",)),
    "user patch": Case(
        "PATCH",
        "/api/admin/users/{user}/",
        ADMIN_ONLY,
        tickets=("-",),
        body=lambda r, w: {"name": "Dave D."},
    ),
    "user erase": Case(
        "POST",
        "/api/admin/users/{user}/erase/",
        ADMIN_ONLY,
        tickets=("-",),
        body=lambda r, w: {"confirm": "dave@other.org"},
    ),
    "user invite": Case(
        "POST", "/api/admin/users/{staff}/invite/", per_role(403, 403, admin=202), tickets=("-",)
    ),
    "user unlock": Case("POST", "/api/admin/users/{staff}/unlock/", ADMIN_ONLY, tickets=("-",)),
    "inbound mail": Case("GET", "/api/admin/inbound/?state=failed", ADMIN_ONLY, tickets=("-",)),
    "inbound mail get": Case("GET", "/api/admin/inbound/{inbound}/", ADMIN_ONLY, tickets=("-",)),
    "inbound retry": Case(
        "POST",
        "/api/admin/inbound/{inbound}/retry/",
        per_role(403, 403, admin=202),
        tickets=("-",),
    ),
    "inbound retry failed": Case(
        "POST", "/api/admin/inbound/retry-failed/", per_role(403, 403, admin=202), tickets=("-",)
    ),
    "outbox": Case("GET", "/api/admin/outbox/?state=failed", ADMIN_ONLY, tickets=("-",)),
    "outbox retry": Case(
        "POST", "/api/admin/outbox/{outbox}/retry/", per_role(403, 403, admin=202), tickets=("-",)
    ),
    "settings": Case("GET", "/api/admin/settings/", ADMIN_ONLY, tickets=("-",)),
    # The body is not JSON: an image (tests/test_desk_settings.py); refused before it is read.
    "logo upload": Case(
        "PUT", "/api/admin/settings/logo/", per_role(403, 403, admin=400), tickets=("-",)
    ),
    "logo remove": Case(
        "DELETE", "/api/admin/settings/logo/", per_role(403, 403, admin=404), tickets=("-",)
    ),
    "settings patch": Case(
        "PATCH",
        "/api/admin/settings/",
        ADMIN_ONLY,
        tickets=("-",),
        body=lambda r, w: {"accent_colour": "#123456"},
    ),
    "companies": Case("GET", "/api/admin/companies/", ADMIN_ONLY, tickets=("-",)),
    "company create": Case(
        "POST",
        "/api/admin/companies/",
        per_role(403, 403, admin=201),
        tickets=("-",),
        body=lambda r, w: {"name": f"Co of {r}"},
    ),
    "company get": Case("GET", "/api/admin/companies/{company}/", ADMIN_ONLY, tickets=("-",)),
    "company patch": Case(
        "PATCH",
        "/api/admin/companies/{company}/",
        ADMIN_ONLY,
        tickets=("-",),
        body=lambda r, w: {"name": "Example"},
    ),
    "api keys": Case("GET", "/api/admin/api-keys/", ADMIN_ONLY, tickets=("-",)),
    "api key create": Case(
        "POST",
        "/api/admin/api-keys/",
        per_role(403, 403, admin=201),
        tickets=("-",),
        body=lambda r, w: {"name": "k", "scopes": ["tickets:read"]},
    ),
    "api key revoke": Case(
        "DELETE", "/api/admin/api-keys/{key}/", per_role(403, 403, admin=204), tickets=("-",)
    ),
    "jobs": Case("GET", "/api/admin/jobs/", ADMIN_ONLY, tickets=("-",)),
    "imap mailboxes": Case("GET", "/api/admin/imap-mailboxes/", ADMIN_ONLY, tickets=("-",)),
    "suppressions": Case("GET", "/api/admin/suppressions/", ADMIN_ONLY, tickets=("-",)),
    "suppression lift": Case(
        "DELETE",
        "/api/admin/suppressions/{suppression}/",
        per_role(403, 403, admin=204),
        tickets=("-",),
    ),
    "analytics summary": Case("GET", "/api/analytics/summary/", ADMIN_ONLY, tickets=("-",)),
    "analytics volume": Case("GET", "/api/analytics/volume/?days=7", ADMIN_ONLY, tickets=("-",)),
    "analytics resolution": Case(
        "GET", "/api/analytics/resolution/?format=csv", ADMIN_ONLY, tickets=("-",)
    ),
    "webhooks": Case("GET", "/api/webhooks/", ADMIN_ONLY, tickets=("-",)),
    "webhook create": Case(
        "POST",
        "/api/webhooks/",
        per_role(403, 403, admin=201),
        tickets=("-",),
        body=lambda r, w: {"url": "http://127.0.0.1:9/x", "events": ["*"]},
    ),
    "webhook get": Case("GET", "/api/webhooks/{hook}/", ADMIN_ONLY, tickets=("-",)),
    "webhook patch": Case(
        "PATCH",
        "/api/webhooks/{hook}/",
        ADMIN_ONLY,
        tickets=("-",),
        body=lambda r, w: {"description": "changed"},
    ),
    "webhook delete": Case(
        "DELETE", "/api/webhooks/{hook}/", per_role(403, 403, admin=204), tickets=("-",)
    ),
    "webhook deliveries": Case(
        "GET", "/api/webhooks/{hook}/deliveries/", ADMIN_ONLY, tickets=("-",)
    ),
    "webhook redeliver": Case(
        "POST",
        "/api/webhooks/{hook}/deliveries/{delivery}/redeliver/",
        per_role(403, 403, admin=202),
        tickets=("-",),
    ),
    "chat rooms": Case("GET", "/api/chat/rooms/", per_role(403, 200), tickets=("-",)),
    "chat room create": Case(
        "POST",
        "/api/chat/rooms/",
        per_role(403, 201),
        tickets=("-",),
        body=lambda r, w: {"name": f"room of {r}", "type": "group"},
    ),
    "chat room get": Case("GET", "/api/chat/rooms/{room}/", per_room(200)),
    "chat room add": Case(
        "POST",
        "/api/chat/rooms/{room}/add_participant/",
        per_room(200, manage=True),
        body=lambda r, w: {"user_id": w["creator_id"]},
    ),
    "chat room remove": Case(
        "POST",
        "/api/chat/rooms/{room}/remove_participant/",
        per_room(200, manage=True),
        body=lambda r, w: {"user_id": w["outsider_id"]},
    ),
    "chat mark read": Case("POST", "/api/chat/rooms/{room}/mark_read/", per_room(200)),
    "chat messages": Case("GET", "/api/chat/messages/?room={room}", per_room(200)),
    "chat search": Case("GET", "/api/chat/messages/?search=x", per_role(403, 200), tickets=("-",)),
    "chat send": Case(
        "POST",
        "/api/chat/messages/",
        per_room(201),
        body=lambda r, w: {"room": w["room"], "body": f"from {r}"},
    ),
    "chat edit": Case(
        "PATCH",
        "/api/chat/messages/{msg}/",
        per_room(200, author_only=True),
        body=lambda r, w: {"body": "edited"},
    ),
    "chat react": Case(
        "POST",
        "/api/chat/messages/{msg}/add_reaction/",
        per_room(200),
        body=lambda r, w: {"emoji": "👍"},
    ),
    "chat unreact": Case(
        "POST",
        "/api/chat/messages/{msg}/remove_reaction/",
        per_room(200),
        body=lambda r, w: {"emoji": "👍"},
    ),
    "chat file": Case("GET", "/api/chat/messages/{file_msg}/file/", per_room(200)),
    "saved replies": Case("GET", "/api/saved-replies/", per_role(403, 200), tickets=("-",)),
    "saved reply create": Case(
        "POST",
        "/api/saved-replies/",
        per_role(403, 201),
        tickets=("-",),
        body=lambda r, w: {"title": f"by {r}", "body": "Hi {{customer.name}}"},
    ),
    "saved reply get": Case(
        "GET", "/api/saved-replies/{reply}/", per_role(403, 200), tickets=("-",)
    ),
    "saved reply patch": Case(
        "PATCH",
        "/api/saved-replies/{reply}/",
        per_reply(200),
        tickets=("-",),
        body=lambda r, w: {"title": "Thanks"},
    ),
    "saved reply delete": Case(
        "DELETE", "/api/saved-replies/{reply}/", per_reply(204, gone=True), tickets=("-",)
    ),
    "saved reply render": Case(
        "GET", "/api/saved-replies/{reply}/render/?ticket={t}", per_ticket(200, staff_only=True)
    ),
    "merge": Case(
        "POST",
        "/api/tickets/{t}/merge/",
        merged_once(),
        body=lambda r, w: {"into": w["other"]},
    ),
    # Not merged: whoever may undo a merge hears that there is none (409).
    "unmerge": Case("POST", "/api/tickets/{t}/unmerge/", per_ticket(409, staff_only=True)),
    "merge suggestions": Case(
        "GET", "/api/tickets/{t}/merge-suggestions/", per_ticket(200, staff_only=True)
    ),
    "notifications": Case(
        "GET", "/api/notifications/?unread=true", per_role(200, 200), tickets=("-",)
    ),
    "notification read": Case(
        "POST", "/api/notifications/{note}/read/", own_notification, tickets=("-",)
    ),
    "notifications read all": Case(
        "POST", "/api/notifications/read-all/", per_role(200, 200), tickets=("-",)
    ),
}
# Deleting is not repeatable: each of these runs on a fresh world and expects the first
# allowed role (in ROLES order) to succeed and everyone after to find nothing.
CASES["chat delete message"] = Case(
    "DELETE", "/api/chat/messages/{msg}/", per_room(204, author_only=True, gone=True)
)
CASES["chat delete room"] = Case(
    "DELETE", "/api/chat/rooms/{room}/", per_room(204, manage=True, gone=True)
)
CASES["time delete"] = Case("DELETE", "/api/time/{entry}/", per_entry(204, gone=True))
CASES["ticket delete"] = Case("DELETE", "/api/tickets/{t}/", per_role(403, 403, admin=204))
PUBLIC = {
    "/healthz",
    "/readyz",
    "/api/auth/token/",
    "/api/auth/token/refresh/",
    "/api/auth/logout/",
    "/api/auth/request-otp/",
    "/api/auth/verify-otp/",
    "/api/auth/register/",
    "/api/auth/google/",  # anyone with a Google ID token (tests/test_google_signin.py)
    "/api/auth/password-reset/",  # tests/test_password_links.py
    "/api/auth/password-reset/confirm/",
    "/api/branding/logo/",  # the sign-in page and mail show it (tests/test_desk_settings.py)
}


def test_every_endpoint_is_in_the_matrix():
    covered = set()
    for c in [*CASES.values(), *QUEUE_CASES.values()]:
        path = c.path.split("?")[0]
        for name in (
            "t",
            "att",
            "note_att",
            "user",
            "company",
            "key",
            "room",
            "msg",
            "file_msg",
            "hook",
            "suppression",
            "staff",
            "inbound",
            "outbox",
            "q",
            "empty",
            "entry",
            "reply",
            "note",
        ):
            path = path.replace("{" + name + "}", "{id}")
        path = path.replace("{col}", "{c}")
        for name in ("victim", "me"):
            path = path.replace("{" + name + "}", "{user}")
        path = path.replace("{delivery}", "{d}")
        covered.add((c.method, path))
    # Endpoints for integrations take API keys or a provider's signature, not people:
    # tests/test_inbound_http.py and tests/test_inbound_providers.py.
    machine = ("api_key", "signature", "metrics_token")  # /metrics: tests/test_observability.py
    routes = {
        (r.method, r.path) for r in ROUTES if r.path not in PUBLIC and r.access not in machine
    }
    assert routes - covered == set()


async def _world(api, daemon, make_user) -> tuple[Team, dict[str, Any]]:
    team = Team(api)
    for name, role in (
        ("agent1", "agent"),
        ("agent2", "agent"),
        ("admin", "admin"),
        ("gone", "agent"),
    ):
        team.users[name] = await make_user(f"{name}@localhost", role)
    for name, email in (
        ("carol", "carol@example.com"),
        ("cora", "cora@example.com"),
        ("dave", "dave@other.org"),
    ):
        team.users[name] = await make_user(email, "customer")
    for name, user in team.users.items():
        team.tokens[name] = await api.token(user.email, PASSWORD)
    team.tokens["deactivated"] = team.tokens.pop("gone")
    async with daemon.desk.db.writer() as session:
        await session.execute(
            update(User).where(User.email == "gone@localhost").values(is_active=False)
        )
    status, company = await team.call(
        "admin",
        "POST",
        "/api/admin/companies/",
        json={"name": "Example", "domains": ["example.com"]},
    )
    assert status == 201
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('cora')}/", json={"is_company_admin": True}
    )
    assert status == 200
    w: dict[str, Any] = {"company": company["id"], "user": team.id("dave"), "tickets": {}}
    async with daemon.desk.db.writer() as session:
        bounced = Suppression(address="bounced@other.org", reason="5.1.1 user unknown")
        session.add(bounced)
        await session.flush()
        w["suppression"] = bounced.id
        # A mail that failed (no sender anywhere: it fails again when retried) and an
        # outgoing mail the relay refused (composed already: a retry sends these bytes).
        failed = InboundMail(
            raw=b"Subject: no sender\r\n\r\nbody\r\n",
            sha256="0" * 64,
            state="failed",
            error="no usable sender address (From or envelope sender)",
        )
        refused = OutboxMail(
            recipient="refused@other.org",
            message_id="<refused@localhost>",
            kind="reply",
            raw=b"From: support@localhost\r\nTo: refused@other.org\r\nSubject: x\r\n\r\nx\r\n",
            state="failed",
            last_error="550 5.1.1 no such user",
        )
        session.add_all([failed, refused])
        await session.flush()
        w["inbound"], w["outbox"] = failed.id, refused.id
    w["staff"] = team.id("agent2")
    status, hook = await team.call(
        "admin",
        "POST",
        "/api/webhooks/",
        json={"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]},
    )
    assert status == 201
    w["hook"] = hook["id"]
    for key, owner in OWNS.items():
        t = await team.open_ticket(owner, f"ticket {key}")
        status, _ = await team.call(
            "admin",
            "POST",
            f"/api/tickets/{t}/assign/",
            json={"assigned_agent": team.id(ASSIGNEE[key])},
        )
        assert status == 200
        other = await team.open_ticket(owner, f"other {key}")  # what ticket {key} merges into
        status, _ = await team.call(
            "admin",
            "POST",
            f"/api/tickets/{other}/assign/",
            json={"assigned_agent": team.id(ASSIGNEE[key])},
        )
        assert status == 200
        ids = {"t": t, "assignee": team.id(ASSIGNEE[key]), "other": other}
        for name, internal in (("att", False), ("note_att", True)):
            form = aiohttp.FormData()
            form.add_field("body", f"{name} on {key}")
            form.add_field("is_internal", str(internal).lower())
            form.add_field(
                "files", f"{name}-{key}".encode(), filename="f.txt", content_type="text/plain"
            )
            status, msg = await team.call("admin", "POST", f"/api/tickets/{t}/messages/", data=form)
            assert status == 201, msg
        _, detail = await team.call("admin", "GET", f"/api/tickets/{t}/")
        by_body = {
            m["body"]: m["attachments"][0]["id"] for m in detail["messages"] if m["attachments"]
        }
        ids["att"], ids["note_att"] = by_body[f"att on {key}"], by_body[f"note_att on {key}"]
        status, entry = await team.call(
            ASSIGNEE[key], "POST", f"/api/tickets/{t}/time/", json={"minutes": 10}
        )
        assert status == 201, entry
        ids["entry"] = entry["id"]
        w["tickets"][key] = ids
    status, created = await team.call(
        "admin", "POST", "/api/admin/api-keys/", json={"name": "k", "scopes": ["tickets:read"]}
    )
    w["key"] = created["id"]
    _, deliveries = await team.call("admin", "GET", f"/api/webhooks/{w['hook']}/deliveries/")
    w["delivery"] = deliveries["results"][0]["id"]
    w["outsider_id"] = team.id("carol")
    for key, creator in ROOM_CREATOR.items():
        others = [team.id(m) for m in ROOM_MEMBERS[key] - {creator}]
        status, room = await team.call(
            creator,
            "POST",
            "/api/chat/rooms/",
            json={"name": f"room {key}", "type": "group", "participant_ids": others},
        )
        assert status == 201, room
        status, msg = await team.call(
            creator,
            "POST",
            "/api/chat/messages/",
            json={"room": room["id"], "body": f"hello {key}"},
        )
        form = aiohttp.FormData()
        form.add_field("room", str(room["id"]))
        form.add_field("files", b"file", filename="f.txt", content_type="text/plain")
        status, file_msg = await team.call(creator, "POST", "/api/chat/messages/", data=form)
        assert status == 201, file_msg
        w["tickets"][key].update(
            room=room["id"], msg=msg["id"], file_msg=file_msg["id"], creator_id=team.id(creator)
        )
    status, reply = await team.call(
        "agent1", "POST", "/api/saved-replies/", json={"title": "Hi", "body": "Hello"}
    )
    assert status == 201, reply
    w["reply"] = reply["id"]
    agent1 = team.id("agent1")
    notes = await wait_for(
        lambda: rows(daemon, Notification, Notification.user_id == agent1), what="a notification"
    )
    w["note"] = notes[0].id
    team.tokens["anonymous"] = ""
    return team, w


async def _prepare(team: Team, w: dict[str, Any], state: str) -> None:
    for ids in w["tickets"].values():
        if state in ("resolved", "archived"):
            await team.call(
                "admin", "POST", f"/api/tickets/{ids['t']}/set-status/", json={"status": "RESOLVED"}
            )
        if state == "archived":
            status, _ = await team.call("admin", "POST", f"/api/tickets/{ids['t']}/archive/")
            assert status == 200


@pytest.mark.parametrize("name", list(CASES))
async def test_permission_matrix(api, daemon, make_user, name):
    case = CASES[name]
    team, w = await _world(api, daemon, make_user)
    await _prepare(team, w, case.prepare)
    got: dict[tuple[str, str], int] = {}
    want: dict[tuple[str, str], int] = {}
    getattr(case.expect, "reset", lambda: None)()
    for ticket in case.tickets:
        ids = {**w, **w["tickets"].get(ticket, {})}
        path = case.path.format(**{k: v for k, v in ids.items() if k != "tickets"})
        for role in ROLES:
            body = case.body(role, ids)
            token = team.tokens[role] or None
            kwargs = {"json": body} if body is not None else {}
            status, answer = await team.api.call(case.method, path, token, **kwargs)
            got[(role, ticket)] = status
            want[(role, ticket)] = case.expect(role, ticket)
            if status >= 400:
                assert set(answer) == {"error", "message", "details"}, answer
    assert got == want


async def test_lists_never_leak(api, daemon, make_user):
    team, w = await _world(api, daemon, make_user)
    for role in ("carol", "dave", "cora", "agent1", "agent2", "admin"):
        status, listed = await team.call(role, "GET", "/api/tickets/?archived=all&page_size=200")
        assert status == 200
        seen = [ids for key, ids in w["tickets"].items() if role in SEES[key]]
        # Each ticket of the world has its merge target ("other"): same owner, same assignee.
        visible = {ids["t"] for ids in seen} | {ids["other"] for ids in seen}
        assert {t["id"] for t in listed["results"]} == visible, role
        for t in listed["results"]:
            if t["id"] not in {ids["t"] for ids in seen}:
                continue  # the merge targets carry no notes
            _, detail = await team.call(role, "GET", f"/api/tickets/{t['id']}/")
            notes = [m for m in detail["messages"] if m["is_internal"]]
            assert bool(notes) == (role in STAFF), role


def test_every_route_names_who_may_call_it():
    """The table's rule is the check (web.routes): only the sign-in endpoints and the
    health check are open to anyone, so a new route left open by mistake fails here."""
    kinds = {"none", "user", "admin", "api_key", "signature", "metrics_token"}
    assert all(r.access in kinds for r in ROUTES)
    assert {r.path for r in ROUTES if r.access == "none"} == PUBLIC
    assert {r.path for r in ROUTES if r.access == "signature"} == {"/api/inbound/mailgun/"}
    assert {r.path for r in ROUTES if r.access == "metrics_token"} == {"/metrics"}


async def test_the_table_checks_the_caller_before_any_handler_runs(api, make_user):
    """Every route for people or integrations answers 401 without credentials, and every
    admin route 403 to an agent, before the handler reads its path or body (which would
    answer 400 or 404 here)."""
    agent = await make_user("agent@localhost", "agent")
    token = await api.token(agent.email, PASSWORD)
    got, want = {}, {}
    for route in ROUTES:
        path = route.path.replace("{id}", "999999").replace("{d}", "999999")
        path = path.replace("{user}", "999999").replace("{c}", "999999")
        if route.access in ("user", "admin", "api_key"):
            got[route.method, path], _ = await api.call(route.method, path)
            want[route.method, path] = 401
        if route.access == "admin":
            got[route.method, path, "agent"], _ = await api.call(route.method, path, token)
            want[route.method, path, "agent"] = 403
    assert got == want


# -- queues: every queue endpoint x every queue role ------------------------------------------
# Queue Sales (team visibility) holds ticket T of carol's, unassigned. Its members: super
# (superadmin), qadmin (admin), manager, quser (user) and victim (a user the requests act
# on). `other` is a member of another queue (Hardware), `nonmember` of none but the default
# queue (which every agent joins); `admin` is a site admin and no member. Queue Empty has
# the same members and no ticket (for deleting).
QUEUE_ROLES = (
    "carol",
    "anonymous",
    "nonmember",
    "other",
    "quser",
    "manager",
    "qadmin",
    "super",
    "admin",
)
QUEUE_RANKS = {"quser": 1, "manager": 2, "qadmin": 3, "super": 4, "admin": 5}


def per_queue_role(
    ok: int,
    *,
    least: str = "",
    see: int = 403,
    gone: bool = False,
    members_only: bool = False,
    customer: int = 403,
) -> Callable[[str, str], int]:
    """Customers get `customer` (anonymous 401); staff need `least` (a QUEUE_RANKS key;
    "" = any staff member) and get `see` otherwise; `members_only`: other staff get 404
    (the ticket, or their membership, does not exist for them; site admins count as
    members unless `least` is ""). `gone`: the first allowed role deletes the thing, the
    roles after find nothing (404)."""
    done: list[bool] = []

    def expect(role: str, _what: str) -> int:
        if role == "anonymous":
            return 401
        if role == "carol":
            return customer
        rank = QUEUE_RANKS.get(role, 0)
        if members_only and rank == 0:
            return 404
        if least and rank < QUEUE_RANKS[least]:
            return see
        if gone and done:
            return 404
        if gone:
            done.append(True)
        return ok

    expect.reset = done.clear  # type: ignore[attr-defined]
    return expect


def _newbie(role: str, w: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": w["newbies"][role], "role": "user"}


QUEUE_CASES: dict[str, Case] = {
    "queues": Case("GET", "/api/queues/", per_queue_role(200), tickets=("-",)),
    "queue create": Case(
        "POST",
        "/api/queues/",
        per_queue_role(201, least="admin"),
        tickets=("-",),
        body=lambda r, w: {"name": f"made by {r}"},
    ),
    "queue get": Case("GET", "/api/queues/{q}/", per_queue_role(200), tickets=("-",)),
    "queue patch": Case(
        "PATCH",
        "/api/queues/{q}/",
        per_queue_role(200, least="qadmin"),
        tickets=("-",),
        body=lambda r, w: {"visibility": "team", "addresses": ["sales@localhost"]},
    ),
    "queue delete": Case(
        "DELETE",
        "/api/queues/{empty}/",
        per_queue_role(204, least="super", gone=True),
        tickets=("-",),
    ),
    # The queue itself any staff member reads (docs/design.md, Queues); its members and
    # board are its members' and site admins' (other staff 404).
    "members": Case(
        "GET", "/api/queues/{q}/members/", per_queue_role(200, members_only=True), tickets=("-",)
    ),
    "member add": Case(
        "POST",
        "/api/queues/{q}/members/",
        per_queue_role(201, least="qadmin"),
        tickets=("-",),
        body=_newbie,
    ),
    "member add superadmin": Case(
        "POST",
        "/api/queues/{q}/members/",
        per_queue_role(201, least="super"),
        tickets=("-",),
        body=lambda r, w: {**_newbie(r, w), "role": "superadmin"},
    ),
    "member role": Case(
        "PATCH",
        "/api/queues/{q}/members/{victim}/",
        per_queue_role(200, least="qadmin"),
        tickets=("-",),
        body=lambda r, w: {"role": "manager"},
    ),
    "member own wishes": Case(
        "PATCH",
        "/api/queues/{q}/members/{me}/",
        lambda r, t: 404 if r == "admin" else per_queue_role(200, members_only=True)(r, t),
        tickets=("-",),
        body=lambda r, w: {"mail_new_tickets": True},
    ),
    "member remove": Case(
        "DELETE",
        "/api/queues/{q}/members/{victim}/",
        per_queue_role(204, least="qadmin", gone=True),
        tickets=("-",),
    ),
    "ticket in the queue": Case(
        "GET",
        "/api/tickets/{t}/",
        per_queue_role(200, members_only=True, customer=200),
        tickets=("-",),
    ),
    "ticket move": Case(
        "POST",
        "/api/tickets/{t}/move/",
        per_queue_role(200, least="manager", members_only=True),
        tickets=("-",),
        body=lambda r, w: {"queue": w["q"]},
    ),
    # The board: its queue's members and site admins read it (cards by what they may see;
    # customers 403, other staff 404);
    # columns are the queue admins'; a card moves for members of the ticket's queue (others
    # do not see ticket T: 404). `col` is a column mapped to no status, `waiting` the one
    # for WAITING_ON_CUSTOMER (the move asks the workflow; repeating it changes nothing).
    "board": Case(
        "GET", "/api/queues/{q}/board/", per_queue_role(200, members_only=True), tickets=("-",)
    ),
    "columns at S0's path": Case(
        "GET",
        "/api/tickets/columns/?project={q}",
        per_queue_role(200, members_only=True),
        tickets=("-",),
    ),
    "column create": Case(
        "POST",
        "/api/queues/{q}/columns/",
        per_queue_role(201, least="qadmin"),
        tickets=("-",),
        body=lambda r, w: {"name": f"made by {r}"},
    ),
    "column patch": Case(
        "PATCH",
        "/api/queues/{q}/columns/{col}/",
        per_queue_role(200, least="qadmin"),
        tickets=("-",),
        body=lambda r, w: {"name": "Backlog", "position": 0},
    ),
    "column delete": Case(
        "DELETE",
        "/api/queues/{q}/columns/{col}/",
        per_queue_role(204, least="qadmin", gone=True),
        tickets=("-",),
    ),
    "card move": Case(
        "POST",
        "/api/tickets/{t}/move/",
        per_queue_role(200, members_only=True),
        tickets=("-",),
        body=lambda r, w: {"column": w["col"], "position": 0},
    ),
    "card move to a status": Case(
        "POST",
        "/api/tickets/{t}/move/",
        per_queue_role(200, members_only=True),
        tickets=("-",),
        body=lambda r, w: {"column": w["waiting"]},
    ),
    "staff directory": Case("GET", "/api/staff/", per_queue_role(200), tickets=("-",)),
    "customer directory": Case(
        "GET", "/api/customers/?search=carol", per_queue_role(200), tickets=("-",)
    ),
    "queue report": Case(
        "GET",
        "/api/analytics/summary/?queue={q}",
        per_queue_role(200, least="manager"),
        tickets=("-",),
    ),
    "queue volume": Case(
        "GET",
        "/api/analytics/volume/?queue={q}&days=7",
        per_queue_role(200, least="manager"),
        tickets=("-",),
    ),
    "queue resolution": Case(
        "GET",
        "/api/analytics/resolution/?queue={q}",
        per_queue_role(200, least="manager"),
        tickets=("-",),
    ),
    "queue time": Case(
        "GET",
        "/api/analytics/time/?queue={q}",
        per_queue_role(200, least="manager"),
        tickets=("-",),
    ),
}
MEMBER_ROLES = {"super": "superadmin", "qadmin": "admin", "manager": "manager", "quser": "user"}


async def _queue_world(api, make_user) -> tuple[Team, dict[str, Any]]:
    team = Team(api)
    for name in ("admin", *MEMBER_ROLES, "other", "nonmember"):
        role = "admin" if name == "admin" else "agent"
        team.users[name] = await make_user(f"{name}@localhost", role)
        team.tokens[name] = await api.token(f"{name}@localhost", PASSWORD)
    team.users["carol"] = await make_user("carol@example.com", "customer")
    team.tokens["carol"] = await api.token("carol@example.com", PASSWORD)
    team.users["victim"] = await make_user("victim@localhost", "agent", None)
    w: dict[str, Any] = {"victim": team.id("victim"), "newbies": {}}
    for role in QUEUE_ROLES:
        w["newbies"][role] = (await make_user(f"new-{role}@localhost", "agent", None)).id
    for name, members in (
        ("Sales", {**MEMBER_ROLES, "victim": "user"}),
        ("Empty", MEMBER_ROLES),
        ("Hardware", {"other": "user"}),
    ):
        status, queue = await team.call("admin", "POST", "/api/queues/", json={"name": name})
        assert status == 201, queue
        for who, role in members.items():
            status, _ = await team.call(
                "admin",
                "POST",
                f"/api/queues/{queue['id']}/members/",
                json={"user_id": team.id(who), "role": role},
            )
            assert status == 201
        w[{"Sales": "q", "Empty": "empty", "Hardware": "hardware"}[name]] = queue["id"]
    w["t"] = await team.open_ticket(
        "admin", "In Sales", customer_email="carol@example.com", queue=w["q"]
    )
    status, column = await team.call(
        "admin", "POST", f"/api/queues/{w['q']}/columns/", json={"name": "Later"}
    )
    assert status == 201, column
    w["col"] = column["id"]
    _, board = await team.call("admin", "GET", f"/api/queues/{w['q']}/board/")
    w["waiting"] = next(c["id"] for c in board["columns"] if c["status"] == "WAITING_ON_CUSTOMER")
    team.tokens["anonymous"] = ""
    return team, w


@pytest.mark.parametrize("name", list(QUEUE_CASES))
async def test_queue_permission_matrix(api, make_user, name):
    case = QUEUE_CASES[name]
    team, w = await _queue_world(api, make_user)
    got: dict[str, int] = {}
    want: dict[str, int] = {}
    getattr(case.expect, "reset", lambda: None)()
    for role in QUEUE_ROLES:
        ids = {**w, "me": team.users[role].id if role in team.users else 999}
        path = case.path.format(**{k: v for k, v in ids.items() if k != "newbies"})
        body = case.body(role, w)
        kwargs = {"json": body} if body is not None else {}
        status, answer = await team.api.call(case.method, path, team.tokens[role] or None, **kwargs)
        got[role], want[role] = status, case.expect(role, "-")
        if status >= 400:
            assert set(answer) == {"error", "message", "details"}, answer
    assert got == want
