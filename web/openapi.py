"""The OpenAPI 3.1 document, generated from the route table and the pydantic models that
validate each request, so it cannot drift from what the server accepts."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from web.responses import json_response
from web.routes import ROUTES, AnyRoute, Route

ERROR = {
    "type": "object",
    "required": ["error", "message", "details"],
    "properties": {
        "error": {"type": "string", "description": "stable machine code"},
        "message": {"type": "string"},
        "details": {"type": "object", "description": "e.g. the field at fault"},
    },
}
_DOCUMENT: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = _build()
    return _DOCUMENT


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document())


def _build() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "postdesk", "version": "1", "description": "Email-first helpdesk."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "metricsToken": {"type": "http", "scheme": "bearer"},  # POSTDESK_METRICS_TOKEN
            },
        },
    }


def _operation(route: AnyRoute, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": _operation_id(route),
        "responses": _responses(route),
    }
    op.update(_security(route))
    params = _parameters(route, schemas)
    if params:
        op["parameters"] = params
    if route.raw_body:
        op["requestBody"] = _raw_request_body(route.raw_body)
    if route.body is not None:
        op["requestBody"] = _model_request_body(route.body, route.multipart, schemas)
    return op


def _operation_id(route: AnyRoute) -> str:
    return (
        f"{route.method.lower()}_{route.handler.__module__.rsplit('.', 1)[-1]}"
        f"_{route.handler.__name__}"
    )


def _security(route: AnyRoute) -> dict[str, Any]:
    """The operation's `security` (and, for admin routes, its `description`)."""
    if route.access in ("none", "signature"):
        return {"security": []}
    if route.access == "api_key":
        return {"security": [{"apiKey": []}, {"bearer": []}]}
    if route.access == "metrics_token":
        return {
            "security": [{"metricsToken": []}],
            "description": "Served only when POSTDESK_METRICS_TOKEN is set (404 otherwise).",
        }
    if route.access == "admin":
        return {"security": [{"bearer": []}], "description": "Admins only."}
    if isinstance(route, Route) and route.key_scope:
        # OpenAPI 3.1 lets a non-OAuth requirement list the roles it needs: the key's scope.
        return {
            "security": [{"bearer": []}, {"apiKey": [route.key_scope]}],
            "description": (
                f"A signed-in person, or an API key with the `{route.key_scope}` scope "
                "(X-Api-Key, or Authorization: Bearer pdk_...), acting as the key's own "
                "account; a key without it gets 403 naming the scope."
            ),
        }
    return {"security": [{"bearer": []}]}


def _parameters(route: AnyRoute, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "integer"}}
        for n in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        params += _query_parameters(route.query, schemas)
    return params


def _raw_request_body(kinds: tuple[str, ...]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {kind: {"schema": _raw_schema(kind)} for kind in kinds},
    }


def _raw_schema(kind: str) -> dict[str, Any]:
    if kind == "application/json":
        return {"type": "object"}
    if kind == "message/rfc822":
        return {"type": "string", "format": "binary"}
    return {"type": "object", "additionalProperties": {"type": "string"}}


def _model_request_body(
    model: type[BaseModel], multipart: bool, schemas: dict[str, Any]
) -> dict[str, Any]:
    ref = _ref(model, schemas)
    content: dict[str, Any] = {"application/json": {"schema": ref}}
    if multipart:
        content["multipart/form-data"] = {"schema": {"allOf": [ref, _files_part()]}}
    return {"required": True, "content": content}


def _files_part() -> dict[str, Any]:
    """The uploaded files a multipart body may carry besides the model's fields."""
    return {
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    }


def _responses(route: AnyRoute) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "success"}
    if route.status != 204:
        body = (
            {"type": "object"} if route.response_type == "application/json" else {"type": "string"}
        )
        ok["content"] = {route.response_type: {"schema": body}}
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    codes = ["400", "404", "409", "413", "415", "429"] if route.body else ["400", "404"]
    if route.access != "none":
        codes += ["401", "403"]
    if route.unavailable:
        codes.append("503")
    return {str(route.status): ok, **{c: error for c in sorted(codes)}}


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema, its nested definitions moved into components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    return schema


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schemas[model.__name__] = _schema(model, schemas)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _schema(model, schemas)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
