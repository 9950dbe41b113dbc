"""The staff's events: an agent's availability, which auto-assignment listens for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from desk.events.base import Event


@dataclass(frozen=True, kw_only=True)
class AgentAvailability(Event):
    type = "agent.availability"
    user_id: int
    is_available: bool
    capacity: int

    def data(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "is_available": self.is_available,
            "capacity": self.capacity,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            id=id,
            at=at,
            user_id=data["user_id"],
            is_available=data["is_available"],
            capacity=data["capacity"],
        )
