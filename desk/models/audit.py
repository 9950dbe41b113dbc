"""The audit log: what an admin or operator did that is not a ticket's own history (an
erasure of a customer's personal data), who did it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # None: the command line (an operator on the server), which has no account.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "customer.erased"
    target: Mapped[str] = mapped_column(String(200))  # e.g. "user:42"
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
