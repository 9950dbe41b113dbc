"""time entries; ticket ids (and their rows' ids) never reused now that admins delete tickets

Revision ID: 0021
Revises: 0019
Create Date: 2026-11-30 03:00:00

`time_entries` holds S4's time tracking (desk/time_entries.py).

Admins may now delete a ticket (desk/tickets/deletion.py). On SQLite a table without
AUTOINCREMENT gives a new row the largest id plus one, so deleting the newest ticket would
hand its number to the next: a reply to the deleted ticket's mail (its `[#12]` subject tag
or reply token) would land in a stranger's ticket. The tickets table and the tables of a
ticket's rows that the API names by id (messages, attachments, history, participants) are
rebuilt with AUTOINCREMENT, as migration 0014 did for chat. The rebuild keeps every index
and trigger exactly as it was (the full-text triggers of 0011, the partial list index of
0013): their SQL is read before and run again after. On PostgreSQL ids come from
sequences, which never go back: nothing to do there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before children is not needed (foreign keys are off while migrating, desk/db.py).
TABLES = ("tickets", "ticket_messages", "attachments", "ticket_changes", "ticket_participants")


def upgrade() -> None:
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("worked_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_time_entries_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_time_entries_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_time_entries_ticket", "time_entries", ["ticket_id", "id"])
    op.create_index("ix_time_entries_worked_on", "time_entries", ["worked_on", "user_id"])
    op.create_index("ix_time_entries_user", "time_entries", ["user_id", "worked_on"])
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
    op.drop_index("ix_time_entries_user", table_name="time_entries")
    op.drop_index("ix_time_entries_worked_on", table_name="time_entries")
    op.drop_index("ix_time_entries_ticket", table_name="time_entries")
    op.drop_table("time_entries")


def _rebuild(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        # Indexes and triggers as written (batch mode would lose a partial index's WHERE,
        # and dropping the old table drops its triggers).
        kept = bind.execute(
            sa.text(
                "SELECT type, name, sql FROM sqlite_master "
                "WHERE tbl_name = :t AND type IN ('index', 'trigger') AND sql IS NOT NULL"
            ),
            {"t": table},
        ).all()
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
        for kind, name, sql in kept:
            op.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
            op.execute(sql)
