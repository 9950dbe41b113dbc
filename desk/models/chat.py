"""The team chat: rooms, who is in them, messages and reactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class ChatRoom(Base):
    __tablename__ = "chat_rooms"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(16))  # direct | group
    project: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    # A direct room is found again by its pair ("<low id>:<high id>"), never duplicated.
    direct_key: Mapped[str | None] = mapped_column(String(40), default=None, unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatParticipant(Base):
    __tablename__ = "chat_participants"
    __table_args__ = (Index("ix_chat_participants_user", "user_id"),)

    room_id: Mapped[int] = mapped_column(
        ForeignKey("chat_rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_room", "room_id", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("chat_rooms.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(8), default="text")  # text | image | file
    body: Mapped[str] = mapped_column(Text, default="")
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    file_name: Mapped[str | None] = mapped_column(String(255), default=None)
    file_type: Mapped[str | None] = mapped_column(String(255), default=None)
    file_size: Mapped[int | None] = mapped_column(Integer, default=None)
    is_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatReaction(Base):
    """One per user, emoji and message."""

    __tablename__ = "chat_reactions"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
