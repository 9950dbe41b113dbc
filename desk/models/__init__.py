"""All tables, imported together so Alembic and the mappers see the whole schema."""

from desk.models.admin import DeskSetting, PasswordToken
from desk.models.audit import AuditEntry
from desk.models.base import Base, utcnow
from desk.models.board import BoardColumn, TicketPosition
from desk.models.chat import ChatMessage, ChatParticipant, ChatReaction, ChatRoom
from desk.models.events import EventRecord
from desk.models.inbound import InboundMail, InboundState, ProviderToken
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
from desk.models.suppressions import Suppression
from desk.models.tickets import (
    TEAM_ONLY,
    Attachment,
    KnownMessageId,
    MessageKind,
    ParticipantRole,
    Priority,
    Status,
    Tag,
    Ticket,
    TicketChange,
    TicketMessage,
    TicketParticipant,
    TicketTag,
)
from desk.models.time import TimeEntry
from desk.models.workspace import Notification, SavedReply, TicketMerge

__all__ = [
    "TEAM_ONLY",
    "ApiKey",
    "Attachment",
    "AuditEntry",
    "AuthSession",
    "Base",
    "BoardColumn",
    "ChatMessage",
    "ChatParticipant",
    "ChatReaction",
    "ChatRoom",
    "Company",
    "CompanyDomain",
    "DeliveryState",
    "DeskSetting",
    "EventRecord",
    "ImapMailbox",
    "InboundMail",
    "InboundState",
    "JobRun",
    "KnownMessageId",
    "MessageKind",
    "Notification",
    "OtpCode",
    "OutboxMail",
    "OutboxState",
    "ParticipantRole",
    "PasswordToken",
    "Priority",
    "ProviderToken",
    "Queue",
    "QueueAddress",
    "QueueMember",
    "QueueRole",
    "Role",
    "SavedReply",
    "Status",
    "Suppression",
    "Tag",
    "Ticket",
    "TicketChange",
    "TicketMerge",
    "TicketMessage",
    "TicketParticipant",
    "TicketPosition",
    "TicketTag",
    "TimeEntry",
    "User",
    "Visibility",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "utcnow",
]
