"""Small helpers every handler shares."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from desk.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


async def json_body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("the body must be JSON", field="body") from None
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return model.model_validate(data)


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise ValidationFailed(f"{name} must be a number", field=name)
    return int(raw)
