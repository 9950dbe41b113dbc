"""Inbound mail exactly as received: committed before the SMTP 250, processed afterwards."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import Base, UTCDateTime, utcnow


class InboundState(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet turned into ticket rows
    PROCESSED = "processed"
    FAILED = "failed"  # kept with the reason; `postdesk inbound retry` tries again
    IGNORED = "ignored"  # e.g. the same Message-ID from the same sender already processed


class InboundMail(Base):
    __tablename__ = "inbound_mail"
    __table_args__ = (Index("ix_inbound_mail_state", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # Same bytes delivered twice are stored once.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(32), default="smtp")
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default=InboundState.RECEIVED.value)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    message_id: Mapped[str | None] = mapped_column(String(998), default=None)
    sender: Mapped[str | None] = mapped_column(String(320), default=None)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    thread_rule: Mapped[str | None] = mapped_column(String(200), default=None)
    # Set when the raw bytes were dropped after POSTDESK_RAW_MAIL_RETENTION_DAYS (or by an
    # erasure): `raw` is then empty; the ticket rows made from it stay.
    raw_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ProviderToken(Base):
    """A provider's signature token, remembered so that one signed request is taken once:
    Mailgun signs only timestamp + token, not the body, so a captured signature would
    otherwise carry any mail while its timestamp is recent. Forgotten after the window."""

    __tablename__ = "provider_tokens"
    __table_args__ = (Index("ix_provider_tokens_seen_at", "seen_at"),)

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
