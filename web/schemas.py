"""Request bodies and query strings, validated by pydantic before any handler logic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from desk.models import Priority, Status
from desk.tickets.queries import ORDERINGS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TokenRequest(Strict):
    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, max_length=320)
    password: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_login(self) -> TokenRequest:
        if not (self.email or self.username):
            raise ValueError("give email (or username)")
        return self

    @property
    def login(self) -> str:
        return (self.email or self.username or "").lower()


class RefreshRequest(Strict):
    refresh: str = Field(min_length=1, max_length=4096)


class AvailabilityUpdate(Strict):
    is_available: bool | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=10)


class MessageCreate(Strict):
    body: str = Field(min_length=1, max_length=100_000)
    is_internal: bool = False


class TicketListQuery(Strict):
    status: Status | None = None
    priority: Priority | None = None
    ordering: Literal[tuple(ORDERINGS)] = "-updated_at"  # type: ignore[valid-type]
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)
    archived: bool = False
