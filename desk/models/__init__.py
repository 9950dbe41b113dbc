"""All tables, imported together so Alembic and the mappers see the whole schema."""

from desk.models.base import Base, utcnow
from desk.models.chat import ChatMessage, ChatParticipant, ChatReaction, ChatRoom
from desk.models.events import EventRecord
from desk.models.inbound import InboundMail, InboundState
from desk.models.operations import (
    DeliveryState,
    ImapMailbox,
    JobRun,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from desk.models.outbox import OutboxMail, OutboxState
from desk.models.people import ApiKey, AuthSession, Company, CompanyDomain, OtpCode, Role, User
from desk.models.queues import Queue, QueueAddress, QueueMember, QueueRole, Visibility
from desk.models.tickets import (
    Attachment,
    KnownMessageId,
    MessageKind,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketChange,
    TicketMessage,
    TicketTag,
)

__all__ = [
    "ApiKey",
    "Attachment",
    "AuthSession",
    "Base",
    "ChatMessage",
    "ChatParticipant",
    "ChatReaction",
    "ChatRoom",
    "Company",
    "CompanyDomain",
    "DeliveryState",
    "EventRecord",
    "ImapMailbox",
    "InboundMail",
    "InboundState",
    "JobRun",
    "KnownMessageId",
    "MessageKind",
    "OtpCode",
    "OutboxMail",
    "OutboxState",
    "Priority",
    "Queue",
    "QueueAddress",
    "QueueMember",
    "QueueRole",
    "Role",
    "Status",
    "Tag",
    "Ticket",
    "TicketChange",
    "TicketMessage",
    "TicketTag",
    "User",
    "Visibility",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "utcnow",
]
