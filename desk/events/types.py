"""The event record: the same JSON goes over Redis, out on WebSockets and into webhooks."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from desk.models.base import utcnow

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
TICKET_STATUS_CHANGED = "ticket.status_changed"
TICKET_ASSIGNED = "ticket.assigned"
MESSAGE_CREATED = "message.created"
OUTBOX_QUEUED = "outbox.queued"
AGENT_AVAILABILITY = "agent.availability"


@dataclass(frozen=True, kw_only=True)
class Event:
    type: str
    ticket_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = field(default_factory=utcnow)

    def marshal(self) -> str:
        body = asdict(self)
        body["at"] = self.at.isoformat()
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def unmarshal(cls, raw: str | bytes) -> Event:
        body = json.loads(raw)
        body["at"] = datetime.fromisoformat(body["at"])
        return cls(**body)
