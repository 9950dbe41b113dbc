"""/api/openapi.json: a valid OpenAPI 3.1 document covering every route the server has."""

from __future__ import annotations

from openapi_spec_validator import validate

from web.routes import ROUTES


async def test_openapi_document_is_valid_and_complete(api):
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any schema error
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert {(r.method, r.path) for r in ROUTES} <= documented
    # The models that validate requests are the ones documented.
    create = doc["paths"]["/api/tickets/"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == {"$ref": "#/components/schemas/TicketCreate"}
    assert "multipart/form-data" in create
    schema = doc["components"]["schemas"]["TicketCreate"]
    assert set(schema["required"]) == {"subject", "description"}
    params = {p["name"] for p in doc["paths"]["/api/tickets/"]["get"]["parameters"]}
    assert {"status", "priority", "assigned_agent", "tag", "column", "ordering", "page"} <= params
    admin_only = doc["paths"]["/api/admin/users/"]["get"]
    assert admin_only["security"] == [{"bearer": []}] and "403" in admin_only["responses"]


async def test_openapi_document_shows_the_table_and_its_access_rules(api):
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200
    operations = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert set(operations) == {(r.method, r.path) for r in ROUTES} | {("GET", "/api/openapi.json")}
    security = {
        "none": [],
        "signature": [],
        "api_key": [{"apiKey": []}, {"bearer": []}],
        "user": [{"bearer": []}],
        "admin": [{"bearer": []}],
        "metrics_token": [{"metricsToken": []}],
    }
    for route in ROUTES:
        op = operations[route.method, route.path]
        scope = getattr(route, "key_scope", "")  # ticket routes also take scoped API keys
        keyed = [{"apiKey": [scope]}] if scope else []
        assert op["security"] == security[route.access] + keyed, route.path
        assert (op.get("description") == "Admins only.") == (route.access == "admin"), route.path
        assert ("401" in op["responses"]) == (route.access != "none"), route.path
