"""The kanban board of a queue (S0's Column and TicketPosition): its columns, each optionally
standing for a ticket status, and where a card (a ticket) sits in its column."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow


class BoardColumn(Base):
    """A column of a queue's board, left to right by `position` (0, 1, ...). With a
    `status`, a card moved here takes that status and a ticket taking it lands here."""

    __tablename__ = "board_columns"
    __table_args__ = (Index("ix_board_columns_queue", "queue_id", "position"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketPosition(Base):
    """Where a card was put: its column and its rank there (gapped integers, so a move sets
    one row between its neighbours). A ticket without a row sits in the column of its
    status (desk/board/placement.py), after the placed cards, oldest first."""

    __tablename__ = "ticket_positions"
    __table_args__ = (Index("ix_ticket_positions_column", "column_id", "rank"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    column_id: Mapped[int] = mapped_column(ForeignKey("board_columns.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(BigInteger)
