"""What every event is: a frozen record with an id and a UTC time, built after its change
and marshalled to the one JSON shape that goes over Redis, onto WebSockets and into webhooks.

An event travels as an envelope `{"type", "ticket_id", "data", "id", "at"}`; each kind says
how its typed fields become `data` and back (`data()` / `from_data()`), in the key order the
wire has always had. The catalogue of kinds, and reading an envelope back, is in types.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

from desk.models.base import utcnow


def new_id() -> str:
    """Until the event is stored (then its id is its row's); typing never is stored."""
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str]  # the name on Redis, in the events table and in webhooks
    stored: ClassVar[bool] = True  # kept in the events table, resumable, sent to webhooks

    id: str = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)

    @property
    def ticket_id(self) -> int | None:
        return None

    def data(self) -> dict[str, Any]:
        """The kind's fields as the wire carries them (JSON types only, times as text)."""
        raise NotImplementedError

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        """The event again from what data() wrote (the bus, or a stored row)."""
        raise NotImplementedError

    def marshal(self) -> str:
        """The envelope as Redis carries it."""
        body = {
            "type": self.type,
            "ticket_id": self.ticket_id,
            "data": self.data(),
            "id": self.id,
            "at": self.at.isoformat(),
        }
        return json.dumps(body, separators=(",", ":"))


def text_time(value: datetime | None) -> str | None:
    """Times travel as ISO 8601 text, the very text the API's orjson writes for them."""
    return None if value is None else value.isoformat()


def read_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def must_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
