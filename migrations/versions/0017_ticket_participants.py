"""ticket participants and the support address a ticket answers from

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-29 23:00:00

A ticket's conversation keeps everyone in it: `ticket_participants` holds the customer and
the people the conversation's mails were also sent to (Cc), mailed on every public reply.
Every existing ticket gets its customer as its one participant (role `to`), so replies to
old tickets keep going where they went. `tickets.support_address` remembers which of the
desk's addresses the customer wrote to (NULL: the default, as every ticket so far).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("support_address", sa.String(length=320), nullable=True))
    op.create_table(
        "ticket_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_participants_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["users.id"], name=op.f("fk_ticket_participants_added_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_participants")),
        sa.UniqueConstraint("ticket_id", "address", name=op.f("uq_ticket_participants_ticket_id")),
    )
    op.create_index("ix_ticket_participants_address", "ticket_participants", ["address"])
    # Each ticket's customer, as the one participant a reply has always gone to.
    op.execute(
        """
        INSERT INTO ticket_participants (ticket_id, address, name, role, created_at)
        SELECT tickets.id, users.email, COALESCE(users.name, ''), 'to', tickets.created_at
        FROM tickets JOIN users ON users.id = tickets.customer_id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_participants_address", table_name="ticket_participants")
    op.drop_table("ticket_participants")
    # SQLite has dropped columns in place since 3.35; a batch rebuild would drop the
    # full-text triggers on tickets (migration 0011).
    op.execute("ALTER TABLE tickets DROP COLUMN support_address")
