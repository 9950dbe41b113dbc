"""Events as stored: written in the transaction of the change they describe, so a client that
reconnects gets what it missed from here, and integrations can be fed from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class EventRecord(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_ticket", "ticket_id", "id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    # No foreign key: events outlive nothing they describe, and must never block a delete.
    ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
