"""API keys act on what their scopes say: tickets:read and tickets:write open the ticket
endpoints to an integration, which acts as its own account (named in history); any other
key, or a key on any other endpoint, is refused with 403 naming what is missing."""

from __future__ import annotations

from typing import Any

from tests.people import Team


async def _key(team: Team, *scopes: str) -> str:
    status, created = await team.call(
        "admin", "POST", "/api/admin/api-keys/", json={"name": "crm", "scopes": list(scopes)}
    )
    assert status == 201
    return str(created["key"])


async def _as_key(
    team: Team, key: str, method: str, path: str, *, header: str = "bearer", **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-Api-Key": key}
    async with team.api.http.request(method, f"{team.api.base}{path}", headers=headers, **kw) as r:
        return r.status, await r.json(content_type=None)


async def test_a_tickets_key_reads_and_writes_as_the_integration(team: Team):
    ticket = await team.open_ticket("carol", "From the portal")
    key = await _key(team, "tickets:read", "tickets:write")
    status, listing = await _as_key(team, key, "GET", "/api/tickets/")
    assert status == 200 and [t["id"] for t in listing["results"]] == [ticket]
    status, detail = await _as_key(team, key, "GET", f"/api/tickets/{ticket}/", header="x-api-key")
    assert status == 200 and detail["subject"] == "From the portal"
    status, _ = await _as_key(
        team, key, "POST", f"/api/tickets/{ticket}/set-status/", json={"status": "RESOLVED"}
    )
    assert status == 200
    status, history = await _as_key(team, key, "GET", f"/api/tickets/{ticket}/history/")
    assert status == 200
    changes = history["results"] if isinstance(history, dict) else history
    actor = changes[-1]["actor_id"]
    status, account = await team.call("admin", "GET", f"/api/admin/users/{actor}/")
    assert status == 200 and account["name"] == "API key crm"
    assert account["email"].endswith("@integrations.invalid") and not account["has_password"]


async def test_a_key_without_the_scope_is_refused_naming_it(team: Team):
    ticket = await team.open_ticket("carol")
    read_only = await _key(team, "tickets:read")
    status, body = await _as_key(
        team, read_only, "POST", f"/api/tickets/{ticket}/set-status/", json={"status": "CLOSED"}
    )
    assert status == 403 and "tickets:write" in body["message"]
    inbound = await _key(team, "inbound:write")
    status, body = await _as_key(team, inbound, "GET", "/api/tickets/")
    assert status == 403 and "tickets:read" in body["message"]
    status, body = await _as_key(team, read_only, "GET", "/api/admin/users/")
    assert status == 403 and body["error"] == "forbidden"
    status, body = await _as_key(team, "pdk_nothing_here", "GET", "/api/tickets/")
    assert status == 401


async def test_the_openapi_document_names_the_scopes(team: Team):
    status, doc = await team.call(None, "GET", "/api/openapi.json")
    assert status == 200
    listing = doc["paths"]["/api/tickets/"]
    assert {"apiKey": ["tickets:read"]} in listing["get"]["security"]
    assert {"apiKey": ["tickets:write"]} in listing["post"]["security"]
    users = doc["paths"]["/api/admin/users/"]["get"]["security"]
    assert all("apiKey" not in requirement for requirement in users)
