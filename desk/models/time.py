"""Time entries (S4's time tracking): who worked how long on a ticket, on which day, and a
note. Staff only; a person edits their own, site admins any (desk/time_entries.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class TimeEntry(Base):
    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_ticket", "ticket_id", "id"),
        # The analytics and the export read a period, per agent or for everyone.
        Index("ix_time_entries_worked_on", "worked_on", "user_id"),
        Index("ix_time_entries_user", "user_id", "worked_on"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # who worked
    minutes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    # The calendar day the work was done, as the person gives it (no time zone: a day).
    worked_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
