"""All tables, imported together so Alembic and the mappers see the whole schema."""

from desk.models.base import Base, utcnow
from desk.models.inbound import InboundMail, InboundState
from desk.models.outbox import OutboxMail, OutboxState
from desk.models.people import ApiKey, AuthSession, Role, User
from desk.models.tickets import (
    Attachment,
    KnownMessageId,
    MessageKind,
    Priority,
    Status,
    Ticket,
    TicketMessage,
)

__all__ = [
    "ApiKey",
    "Attachment",
    "AuthSession",
    "Base",
    "InboundMail",
    "InboundState",
    "KnownMessageId",
    "MessageKind",
    "OutboxMail",
    "OutboxState",
    "Priority",
    "Role",
    "Status",
    "Ticket",
    "TicketMessage",
    "User",
    "utcnow",
]
