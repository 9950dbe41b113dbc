"""Every failure the domain names, under one DeskError; each edge maps them to its wire once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class DeskError(Exception):
    """A failure a caller can act on. `code` is the stable machine name sent in error bodies."""

    code = "error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(DeskError):
    code = "bad_setting"

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}", setting=name)


class ValidationFailed(DeskError):
    code = "invalid"
    status = 400


def refuse_nulls(changes: Mapping[str, Any], not_null: Iterable[str]) -> None:
    """A partial edit (PATCH) may leave a field out but not set one of `not_null` to null.
    Raises ValidationFailed naming the first such field."""
    for name in not_null:
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null; leave it out to keep it", field=name)


class NotAuthenticated(DeskError):
    code = "not_authenticated"
    status = 401


class PermissionDenied(DeskError):
    code = "forbidden"
    status = 403


class NotFound(DeskError):
    code = "not_found"
    status = 404


class Conflict(DeskError):
    code = "conflict"
    status = 409
