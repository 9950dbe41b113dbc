"""Queues (S0's projects, a mailbox or group elsewhere): where tickets live, who works them
and with which role, and which support addresses feed them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class QueueRole(enum.StrEnum):
    """S0's project roles, highest first; what each may do is `desk.auth.access.QUEUE_RIGHTS`."""

    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    MANAGER = "manager"
    USER = "user"


class Visibility(enum.StrEnum):
    TEAM = "team"  # members see every ticket of the queue
    ASSIGNED = "assigned"  # members see unassigned tickets and their own (S1)


class Queue(Base):
    __tablename__ = "queues"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.TEAM.value)
    # Exactly one queue catches mail to addresses no queue names (and web tickets).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QueueAddress(Base):
    """A support address whose mail lands in the queue; the first (lowest position) is the
    From of the queue's outgoing mail. An address belongs to one queue."""

    __tablename__ = "queue_addresses"
    __table_args__ = (Index("ix_queue_addresses_queue", "queue_id", "position"),)

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class QueueMember(Base):
    """A staff member's place in a queue. The caller check loads these with the user, so
    access checks on sockets and events need no database read."""

    __tablename__ = "queue_members"
    __table_args__ = (Index("ix_queue_members_user", "user_id"),)

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default=QueueRole.USER.value)
    # New unassigned tickets of the queue: a /ws/notifications/ event (on by default) and a
    # mail (opt-in).
    notify_new_tickets: Mapped[bool] = mapped_column(Boolean, default=True)
    mail_new_tickets: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queue: Mapped[Queue] = relationship(lazy="joined")
