"""Admin API keys: shown once, stored hashed, scoped, revocable, admins only."""

from __future__ import annotations

import hashlib

import pytest

from desk.auth.api_keys import authenticate_key
from desk.errors import NotAuthenticated, PermissionDenied
from desk.models import ApiKey
from tests.support import rows

PASSWORD = "correct horse 1"


@pytest.fixture
async def admin(api, make_user):
    await make_user("admin@localhost", "admin")
    return await api.token("admin@localhost", PASSWORD)


async def test_key_is_shown_once_stored_hashed_and_scoped(api, daemon, admin):
    status, created = await api.call(
        "POST", "/api/admin/api-keys/", admin, json={"name": "mailgun", "scopes": ["inbound:write"]}
    )
    assert status == 201 and created["key"].startswith("pdk_")
    [row] = await rows(daemon, ApiKey)
    secret = created["key"].removeprefix("pdk_").split("_", 1)[1]  # the secret may hold "_"
    assert secret not in (row.secret_hash, row.lookup)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    status, listing = await api.call("GET", "/api/admin/api-keys/", admin)
    assert status == 200 and listing["count"] == 1
    assert "key" not in listing["results"][0] and secret not in str(listing)

    key = await authenticate_key(daemon.desk.db, created["key"], "inbound:write")
    assert key.name == "mailgun"
    with pytest.raises(PermissionDenied):
        await authenticate_key(daemon.desk.db, created["key"], "tickets:read")
    with pytest.raises(NotAuthenticated):
        await authenticate_key(daemon.desk.db, created["key"][:-2] + "xx", "inbound:write")

    status, _ = await api.call("DELETE", f"/api/admin/api-keys/{created['id']}/", admin)
    assert status == 204
    with pytest.raises(NotAuthenticated):
        await authenticate_key(daemon.desk.db, created["key"], "inbound:write")
    [row] = await rows(daemon, ApiKey)
    assert row.revoked_at is not None and row.last_used_at is not None


async def test_bad_scopes_and_unknown_key(api, admin):
    status, body = await api.call(
        "POST", "/api/admin/api-keys/", admin, json={"name": "x", "scopes": ["everything"]}
    )
    assert status == 400 and body["details"]["field"] == "scopes"
    status, body = await api.call(
        "POST", "/api/admin/api-keys/", admin, json={"name": "x", "scopes": []}
    )
    assert status == 400
    status, body = await api.call("DELETE", "/api/admin/api-keys/999/", admin)
    assert status == 404


async def test_only_admins_manage_keys(api, make_user, admin):
    await make_user("agent@localhost", "agent")
    agent = await api.token("agent@localhost", PASSWORD)
    for method, path, kwargs in (
        ("GET", "/api/admin/api-keys/", {}),
        ("POST", "/api/admin/api-keys/", {"json": {"name": "x", "scopes": ["tickets:read"]}}),
        ("DELETE", "/api/admin/api-keys/1/", {}),
    ):
        assert (await api.call(method, path, agent, **kwargs))[0] == 403
        assert (await api.call(method, path, None, **kwargs))[0] == 401
