"""Tickets, their messages and attachments: the conversation as stored."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class Status(enum.StrEnum):
    OPEN = "OPEN"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_ON_CUSTOMER = "WAITING_ON_CUSTOMER"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class Priority(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


class MessageKind(enum.StrEnum):
    INBOUND = "inbound"  # written by the customer (mail or portal)
    OUTBOUND = "outbound"  # a public answer, mailed to the customer
    NOTE = "note"  # internal; never shown or mailed to a customer
    DELIVERY_FAILURE = "delivery_failure"  # a bounce of our mail; for the team only


# Messages only the team sees (and never mails outside it).
TEAM_ONLY = (MessageKind.NOTE.value, MessageKind.DELIVERY_FAILURE.value)


# What a list page filters on, after its order: enough for the database to pick a page's
# tickets without reading the table (an index-only scan).
LIVE_LIST_COLUMNS = (
    "updated_at",
    "id",
    "assigned_agent_id",
    "customer_id",
    "company_id",
    "status",
    "priority",
    "created_at",
)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer", "customer_id"),
        Index("ix_tickets_agent_status", "assigned_agent_id", "status"),
        # The list orderings: a page walks the index instead of sorting every match.
        Index("ix_tickets_updated", "updated_at", "id"),
        Index("ix_tickets_created", "created_at", "id"),
        # The default list (live tickets, newest change first) read from the index alone:
        # a page deep in an agent's view skips hundreds of rows without visiting them.
        Index(
            "ix_tickets_live_updated",
            *LIVE_LIST_COLUMNS,
            postgresql_where=text("archived_at IS NULL"),
            sqlite_where=text("archived_at IS NULL"),
        ),
        IDS_NEVER_REUSED,  # admins delete tickets (desk/tickets/deletion.py)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(998), default="")
    status: Mapped[str] = mapped_column(String(32), default=Status.OPEN.value)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.MEDIUM.value)
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # The customer's company when the ticket opened (or when an admin mapped the domain), so
    # a company admin's access is a plain column test.
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), default=None, index=True
    )
    # The queue the ticket lives in: who may see and work it (desk.auth.access).
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), index=True)
    # A reply to a closed ticket opens a new one that points back here.
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The support address the customer wrote to (set from the first mail's recipients):
    # mail on this ticket goes out From it. None: the desk's default address.
    support_address: Mapped[str | None] = mapped_column(String(320), default=None)


class ParticipantRole(enum.StrEnum):
    TO = "to"  # the customer, and whoever staff put in To
    CC = "cc"  # everyone else in the conversation: copied on every public reply


class TicketParticipant(Base):
    """A person in a ticket's conversation, mailed on every public reply (reply-all as mail
    clients do it): the customer, and the people the conversation's mails were also sent to.
    Never one of the desk's own addresses. A person staff took off stays as a row with
    `removed_at`, so a later mail naming them in Cc does not bring them back."""

    __tablename__ = "ticket_participants"
    __table_args__ = (
        UniqueConstraint("ticket_id", "address"),
        Index("ix_ticket_participants_address", "address"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(8), default=ParticipantRole.CC.value)
    # Who put them there: a staff member's id, or None for the mail that named them.
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Lets a batch add participants to a ticket that has no id yet; never loaded lazily.
    ticket: Mapped[Ticket] = relationship(lazy="raise")

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class TicketMessage(Base):
    __tablename__ = "ticket_messages"
    __table_args__ = (
        Index("ix_ticket_messages_ticket", "ticket_id", "id"),
        Index("ix_ticket_messages_msgid_sender", "message_id", "sender_email"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="email")  # email | web | system
    sender_email: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")  # full text, quotes included
    body_new: Mapped[str] = mapped_column(Text, default="")  # the reply without quoted history
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitized with nh3 before storing
    message_id: Mapped[str | None] = mapped_column(String(998), default=None)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mail.id"), default=None)
    is_automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # Which threading rule placed this message, or why it opened a ticket (for admins).
    thread_rule: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Lets a batch link a message to a ticket that has no id yet; never loaded lazily.
    ticket: Mapped[Ticket] = relationship(lazy="raise")

    @property
    def is_internal(self) -> bool:
        return self.kind in TEAM_ONLY


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message", "ticket_message_id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id"))
    # Shown to people only; files live under DATA_DIR by content hash, never by this name.
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str] = mapped_column(String(998), default="")
    is_inline: Mapped[bool] = mapped_column(Boolean, default=False)
    # A part that did not decode whole is kept as far as it did, with the reason.
    damaged: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    damage_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # A file of a forwarded message: the forwarded message's own .eml attachment.
    forwarded_in_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"), default=None)
    message: Mapped[TicketMessage] = relationship(lazy="raise")
    forwarded_in: Mapped[Attachment | None] = relationship(remote_side=[id], lazy="raise")


class KnownMessageId(Base):
    """Every Message-ID postdesk stored or sent, so In-Reply-To/References find their ticket."""

    __tablename__ = "known_message_ids"

    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag_id", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class TicketChange(Base):
    """One line of a ticket's history, written in the transaction that made the change."""

    __tablename__ = "ticket_changes"
    __table_args__ = (Index("ix_ticket_changes_ticket", "ticket_id", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text, default=None)
    new_value: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
