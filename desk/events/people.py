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


@dataclass(frozen=True, kw_only=True)
class AccessRevoked(Event):
    """A person's access ended: one session (logout) or every session (the account was
    deactivated, `session_id` None). Said to every process so that each closes that
    person's open WebSockets at once; never stored, never a webhook."""

    type = "user.access_revoked"
    stored = False
    user_id: int
    session_id: str | None
    reason: str

    def data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "session_id": self.session_id, "reason": self.reason}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            id=id,
            at=at,
            user_id=data["user_id"],
            session_id=data["session_id"],
            reason=data["reason"],
        )


@dataclass(frozen=True, kw_only=True)
class AccessChanged(Event):
    """What some people may see changed without ending their sessions: a queue membership
    added, removed or given another role, a site role or company change, a queue's
    visibility changed or the queue deleted (desk.auth.revocation.access_changed). Said to
    every process so that each reloads these people's access for their open WebSockets,
    closes the ones they may no longer hold, and checks every later event by the new rule;
    never stored, never a webhook."""

    type = "user.access_changed"
    stored = False
    user_ids: tuple[int, ...]
    reason: str

    def data(self) -> dict[str, Any]:
        return {"user_ids": list(self.user_ids), "reason": self.reason}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(id=id, at=at, user_ids=tuple(data["user_ids"]), reason=data["reason"])


@dataclass(frozen=True, kw_only=True)
class NotificationAdded(Event):
    """A line in someone's bell (desk/notifications.py), said to their /ws/notifications/
    sockets as a `notification` frame; never stored as an event (the row is the record)."""

    type = "notification.added"
    stored = False
    user_id: int
    notification: Mapping[str, Any]  # the API's notification, as GET /api/notifications/

    def data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "notification": dict(self.notification)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(id=id, at=at, user_id=data["user_id"], notification=data["notification"])
