"""The ticket events: each carries the ticket as it is after the change (what access checks
read, and what the API returns for it), and what changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from desk.events.base import Event, must_time, read_time, text_time


@dataclass(frozen=True, kw_only=True)
class TicketView:
    """The ticket in an event: the API's ticket fields, in their order."""

    id: int
    subject: str
    status: str
    priority: str
    customer_id: int
    assigned_agent_id: int | None
    company_id: int | None
    linked_ticket_id: int | None
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None
    resolved_at: datetime | None
    archived_at: datetime | None
    queue_id: int

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "status": self.status,
            "priority": self.priority,
            "customer_id": self.customer_id,
            "assigned_agent_id": self.assigned_agent_id,
            "company_id": self.company_id,
            "linked_ticket_id": self.linked_ticket_id,
            "created_at": text_time(self.created_at),
            "updated_at": text_time(self.updated_at),
            "assigned_at": text_time(self.assigned_at),
            "resolved_at": text_time(self.resolved_at),
            "archived_at": text_time(self.archived_at),
            "is_archived": self.is_archived,
            "queue_id": self.queue_id,
            "queue": self.queue_id,  # S0's name, as in the API
            "customer": self.customer_id,  # S1's names again (desk.tickets.events)
            "assigned_agent": self.assigned_agent_id,
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Self:
        return cls(
            id=d["id"],
            subject=d["subject"],
            status=d["status"],
            priority=d["priority"],
            customer_id=d["customer_id"],
            assigned_agent_id=d["assigned_agent_id"],
            company_id=d.get("company_id"),
            linked_ticket_id=d.get("linked_ticket_id"),
            created_at=must_time(d["created_at"]),
            updated_at=must_time(d["updated_at"]),
            assigned_at=read_time(d.get("assigned_at")),
            resolved_at=read_time(d.get("resolved_at")),
            archived_at=read_time(d.get("archived_at")),
            # Events stored before queues (migration 0018) were all of the default queue.
            queue_id=d.get("queue_id", 1),
        )


@dataclass(frozen=True, kw_only=True)
class MessageView:
    """A ticket message in an event: the API's message fields, in their order."""

    id: int
    ticket_id: int
    kind: str
    source: str
    author_id: int | None
    sender_email: str | None
    subject: str | None
    body_text: str | None
    body_html: str | None
    message_id: str | None
    is_automatic: bool
    thread_rule: str | None
    created_at: datetime
    is_internal: bool
    body: str | None  # the new text, quotes left out

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ticket_id": self.ticket_id,
            "kind": self.kind,
            "source": self.source,
            "author_id": self.author_id,
            "sender_email": self.sender_email,
            "subject": self.subject,
            "body_text": self.body_text,
            "body_html": self.body_html,
            "message_id": self.message_id,
            "is_automatic": self.is_automatic,
            "thread_rule": self.thread_rule,
            "created_at": text_time(self.created_at),
            "is_internal": self.is_internal,
            "body": self.body,
            "author": self.author_id,  # S1's names again (desk.tickets.events)
            "ticket": self.ticket_id,
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Self:
        ours = {k: v for k, v in d.items() if k not in ("author", "ticket")}
        return cls(**{**ours, "created_at": must_time(d["created_at"])})


@dataclass(frozen=True, kw_only=True)
class TicketEvent(Event):
    """Any event about one ticket: it goes to that ticket's sockets."""

    ticket: TicketView

    @property
    def ticket_id(self) -> int:
        return self.ticket.id

    def data(self) -> dict[str, Any]:
        return {"ticket": self.ticket.data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(id=id, at=at, ticket=TicketView.from_data(data["ticket"]))


@dataclass(frozen=True, kw_only=True)
class TicketCreated(TicketEvent):
    type = "ticket.created"


@dataclass(frozen=True, kw_only=True)
class TicketUpdated(TicketEvent):
    """Subject, priority, tags or archiving: `fields` names which."""

    type = "ticket.updated"
    fields: tuple[str, ...]

    def data(self) -> dict[str, Any]:
        return {**super().data(), "fields": list(self.fields)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, fields=tuple(data["fields"]))


@dataclass(frozen=True, kw_only=True)
class StatusChanged(TicketEvent):
    type = "ticket.status_changed"
    old: str  # "from" on the wire
    new: str  # "to"

    def data(self) -> dict[str, Any]:
        return {**super().data(), "from": self.old, "to": self.new}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, old=data["from"], new=data["to"])


@dataclass(frozen=True, kw_only=True)
class TicketAssigned(TicketEvent):
    """Given to an agent, handed on, or given back (`new_agent_id` None)."""

    type = "ticket.assigned"
    old_agent_id: int | None  # "from" on the wire
    new_agent_id: int | None  # "to"

    def data(self) -> dict[str, Any]:
        return {**super().data(), "from": self.old_agent_id, "to": self.new_agent_id}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, old_agent_id=data["from"], new_agent_id=data["to"])


@dataclass(frozen=True, kw_only=True)
class MessageCreated(TicketEvent):
    """A message on the ticket: mail in or out, a web reply, an internal note."""

    type = "message.created"
    message: MessageView

    def data(self) -> dict[str, Any]:
        return {**super().data(), "message": self.message.data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, message=MessageView.from_data(data["message"]))


@dataclass(frozen=True, kw_only=True)
class TicketDeleted(TicketEvent):
    """An admin deleted the ticket with everything on it (desk/tickets/deletion.py): the
    ticket as it was, so the same access rule decides who hears of it."""

    type = "ticket.deleted"


@dataclass(frozen=True, kw_only=True)
class TicketMerged(TicketEvent):
    """The ticket (as after the merge: CLOSED) went into ticket `into_id`: its messages,
    participants and history are there now, and mail to it lands there. The target's own
    sockets hear a `ticket.updated` naming `messages`."""

    type = "ticket.merged"
    into_id: int  # "into" on the wire
    merge_id: int  # what POST /api/tickets/<id>/unmerge/ undoes

    def data(self) -> dict[str, Any]:
        return {**super().data(), "into": self.into_id, "merge_id": self.merge_id}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, into_id=data["into"], merge_id=data["merge_id"])


@dataclass(frozen=True, kw_only=True)
class TicketUnmerged(TicketEvent):
    """A merge undone: the ticket has its messages, participants and history back from
    ticket `from_id` (whose sockets hear a `ticket.updated` naming `messages`)."""

    type = "ticket.unmerged"
    from_id: int  # "from" on the wire
    merge_id: int

    def data(self) -> dict[str, Any]:
        return {**super().data(), "from": self.from_id, "merge_id": self.merge_id}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        ticket = TicketView.from_data(data["ticket"])
        return cls(id=id, at=at, ticket=ticket, from_id=data["from"], merge_id=data["merge_id"])
