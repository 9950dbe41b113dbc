"""board: kanban columns per queue and card positions (S0's Column and TicketPosition)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 02:40:00

Every queue that exists gets the default columns, one per ticket status in the workflow's
order (as `desk.board.columns.DEFAULT_COLUMNS` gives a new queue; the list is repeated here
so this revision never changes with the code). No card is placed: a ticket without a
`ticket_positions` row sits in the column of its status, so the board of an existing desk
shows every live ticket where its status says, and nothing else changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_COLUMNS = (
    ("Open", "OPEN"),
    ("Assigned", "ASSIGNED"),
    ("In progress", "IN_PROGRESS"),
    ("Waiting on customer", "WAITING_ON_CUSTOMER"),
    ("Resolved", "RESOLVED"),
    ("Closed", "CLOSED"),
)


def upgrade() -> None:
    op.create_table(
        "board_columns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_board_columns_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_columns")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_board_columns_queue", "board_columns", ["queue_id", "position"])
    op.create_table(
        "ticket_positions",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("column_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_positions_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["column_id"],
            ["board_columns.id"],
            name=op.f("fk_ticket_positions_column_id_board_columns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_positions")),
    )
    op.create_index("ix_ticket_positions_column", "ticket_positions", ["column_id", "rank"])
    for position, (name, status) in enumerate(DEFAULT_COLUMNS):
        op.execute(
            sa.text(
                "INSERT INTO board_columns (queue_id, name, position, status, created_at) "
                "SELECT id, :name, :position, :status, CURRENT_TIMESTAMP FROM queues"
            ).bindparams(name=name, position=position, status=status)
        )


def downgrade() -> None:
    op.drop_index("ix_ticket_positions_column", table_name="ticket_positions")
    op.drop_table("ticket_positions")
    op.drop_index("ix_board_columns_queue", table_name="board_columns")
    op.drop_table("board_columns")
