"""The one place errors become HTTP: {"error", "message", "details"} with the right status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from desk.errors import DeskError
from web.responses import json_response

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    return json_response({"error": code, "message": message, "details": details}, status=status)


def from_validation(exc: ValidationError) -> web.Response:
    # Keyed by the field as the client named it; the position inside it goes in the text.
    problems: dict[str, str] = {}
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]] or ["body"]
        where = f" (at {'.'.join(loc[1:])})" if len(loc) > 1 else ""
        problems.setdefault(loc[0], e["msg"] + where)
    first = next(iter(problems.items()))
    return error_response(400, "invalid", f"{first[0]}: {first[1]}", fields=problems)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DeskError as exc:
        details = dict(exc.details)
        if "field" in details:  # the same place pydantic's errors name their fields
            details.setdefault("fields", {details["field"]: exc.message})
        response = error_response(exc.status, exc.code, exc.message, **details)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response
    except ValidationError as exc:
        return from_validation(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; it has been logged")
