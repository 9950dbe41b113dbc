"""The catalogue of event kinds, and reading an event back from the bus or the events table.

Every kind anyone emits is listed in KINDS, in the order the webhook API names them; a kind
is a frozen dataclass with typed fields (desk/events/tickets.py, chat.py, people.py), so
consumers read `event.ticket.assigned_agent_id`, never a nested dict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from desk.events.base import Event, must_time
from desk.events.board import (
    BoardEvent,
    CardMoved,
    ColumnCreated,
    ColumnDeleted,
    ColumnEvent,
    ColumnUpdated,
    ColumnView,
)
from desk.events.chat import (
    ChatEvent,
    ChatMention,
    ChatMessageDeleted,
    ChatMessageEdited,
    ChatMessageEvent,
    ChatMessageNew,
    ChatMessageView,
    ReactionAdded,
    ReactionRemoved,
    RoomDeleted,
    TicketRef,
    UserJoined,
    UserLeft,
    UserTyping,
)
from desk.events.people import (
    AccessChanged,
    AccessRevoked,
    AgentAvailability,
    NotificationAdded,
)
from desk.events.presence import TicketPresence
from desk.events.tickets import (
    MessageCreated,
    MessageView,
    StatusChanged,
    TicketAssigned,
    TicketCreated,
    TicketDeleted,
    TicketEvent,
    TicketMerged,
    TicketUnmerged,
    TicketUpdated,
    TicketView,
)

KINDS: tuple[type[Event], ...] = (
    TicketCreated,
    TicketUpdated,
    StatusChanged,
    TicketAssigned,
    MessageCreated,
    TicketDeleted,
    AgentAvailability,
    ChatMessageNew,
    ChatMessageEdited,
    ChatMessageDeleted,
    ChatMention,
    ReactionAdded,
    ReactionRemoved,
    UserJoined,
    UserLeft,
    RoomDeleted,
    UserTyping,
    AccessRevoked,
    TicketMerged,
    TicketUnmerged,
    TicketPresence,
    NotificationAdded,
    CardMoved,
    ColumnCreated,
    ColumnUpdated,
    ColumnDeleted,
    AccessChanged,
)
BY_TYPE: dict[str, type[Event]] = {kind.type: kind for kind in KINDS}
STORED_KINDS = tuple(kind for kind in KINDS if kind.stored)


class UnknownEvent(ValueError):
    """A type no kind has: a stored row or a message from another version."""


def from_parts(type_: str, data: Mapping[str, Any], *, id: str, at: datetime) -> Event:
    kind = BY_TYPE.get(type_)
    if kind is None:
        raise UnknownEvent(f"no event kind {type_!r}")
    return kind.from_data(data, id=id, at=at)


def unmarshal(raw: str | bytes) -> Event:
    """An envelope as Event.marshal() wrote it (what arrives over Redis)."""
    body = json.loads(raw)
    return from_parts(body["type"], body["data"], id=body["id"], at=must_time(body["at"]))


__all__ = [
    "KINDS",
    "STORED_KINDS",
    "AccessChanged",
    "AccessRevoked",
    "AgentAvailability",
    "BoardEvent",
    "CardMoved",
    "ChatEvent",
    "ChatMention",
    "ChatMessageDeleted",
    "ChatMessageEdited",
    "ChatMessageEvent",
    "ChatMessageNew",
    "ChatMessageView",
    "ColumnCreated",
    "ColumnDeleted",
    "ColumnEvent",
    "ColumnUpdated",
    "ColumnView",
    "Event",
    "MessageCreated",
    "MessageView",
    "NotificationAdded",
    "ReactionAdded",
    "ReactionRemoved",
    "RoomDeleted",
    "StatusChanged",
    "TicketAssigned",
    "TicketCreated",
    "TicketDeleted",
    "TicketEvent",
    "TicketMerged",
    "TicketPresence",
    "TicketRef",
    "TicketUnmerged",
    "TicketUpdated",
    "TicketView",
    "UnknownEvent",
    "UserJoined",
    "UserLeft",
    "UserTyping",
    "from_parts",
    "unmarshal",
]
