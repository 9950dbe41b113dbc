"""What the agent workspace keeps: the team's saved replies, ticket merges (so one can be
undone and mail to the merged ticket finds its target), and each person's notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class SavedReply(Base):
    """An answer the team reuses, with placeholders (desk/saved_replies.py) filled in for
    the ticket it is inserted into."""

    __tablename__ = "saved_replies"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketMerge(Base):
    """One ticket merged into another. `moved` names the rows that went over (messages,
    history lines, participants, Message-IDs), so an undo moves back exactly those. The
    source is merged while its newest merge row has no `undone_at`."""

    __tablename__ = "ticket_merges"
    __table_args__ = (
        Index("ix_ticket_merges_source", "source_id", "id"),
        Index("ix_ticket_merges_target", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    source_status: Mapped[str] = mapped_column(String(32))  # restored by an undo
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Notification(Base):
    """One line of a person's bell: written from a stored event (its id keeps each event
    to one line per person, however many processes hear it)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id", name="uq_notifications_user_event"),
        Index("ix_notifications_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)
    room_id: Mapped[int | None] = mapped_column(Integer, default=None)
    text: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
