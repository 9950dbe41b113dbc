"""queues: tickets live in queues with members, roles and a visibility rule

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 23:00:00

An existing desk keeps working as before: every ticket moves into one default queue
(`Support`) whose members are today's staff (admins as queue admins, agents as users), with
the visibility rule of today, `assigned` (agents see unassigned tickets and their own), and
no notifications of new tickets (nobody had them; each member may turn them on).
Queues made later default to `team`. The default queue has no address of its own: its mail
goes out from POSTDESK_SUPPORT_ADDRESS, as before.

`tickets.queue_id` is NOT NULL. SQLite adds it with a default naming the default queue (the
only way ADD COLUMN takes NOT NULL; rebuilding the table would drop its full-text
triggers), PostgreSQL fills it the same way and then drops the default: new tickets always
name their queue.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_QUEUE_ID = 1


def upgrade() -> None:
    _create_tables()
    _default_queue()
    _ticket_queue()


def _create_tables() -> None:
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "queue_addresses",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_addresses_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_queue_addresses")),
    )
    op.create_index("ix_queue_addresses_queue", "queue_addresses", ["queue_id", "position"])
    op.create_table(
        "queue_members",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("notify_new_tickets", sa.Boolean(), nullable=False),
        sa.Column("mail_new_tickets", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_members_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_queue_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "user_id", name=op.f("pk_queue_members")),
    )
    op.create_index("ix_queue_members_user", "queue_members", ["user_id"])


def _default_queue() -> None:
    """The default queue, with today's staff in it by today's role."""
    op.execute(
        sa.text(
            "INSERT INTO queues (id, name, visibility, is_default, created_at) "
            "VALUES (:id, 'Support', 'assigned', :yes, CURRENT_TIMESTAMP)"
        ).bindparams(id=DEFAULT_QUEUE_ID, yes=True)
    )
    op.execute(
        sa.text(
            "INSERT INTO queue_members "
            "(queue_id, user_id, role, notify_new_tickets, mail_new_tickets, created_at) "
            "SELECT :q, id, CASE role WHEN 'admin' THEN 'admin' ELSE 'user' END, :no, :no, "
            "CURRENT_TIMESTAMP FROM users WHERE role IN ('admin', 'agent')"
        ).bindparams(q=DEFAULT_QUEUE_ID, no=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        # The id was given by hand: the sequence must go past it.
        op.execute("SELECT setval('queues_id_seq', (SELECT max(id) FROM queues))")


def _ticket_queue() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE tickets ADD COLUMN queue_id INTEGER NOT NULL "
            f"DEFAULT {DEFAULT_QUEUE_ID} "
            "CONSTRAINT fk_tickets_queue_id_queues REFERENCES queues (id)"
        )
    else:
        op.add_column(
            "tickets",
            sa.Column(
                "queue_id", sa.Integer(), nullable=False, server_default=str(DEFAULT_QUEUE_ID)
            ),
        )
        op.alter_column("tickets", "queue_id", server_default=None)
        op.create_foreign_key(
            op.f("fk_tickets_queue_id_queues"), "tickets", "queues", ["queue_id"], ["id"]
        )
    op.create_index(op.f("ix_tickets_queue_id"), "tickets", ["queue_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_queue_id"), table_name="tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_tickets_queue_id_queues"), "tickets", type_="foreignkey")
        op.drop_column("tickets", "queue_id")
    else:
        # SQLite drops a column only without its constraint: the table is rebuilt, keeping
        # its full-text triggers (as migration 0014 does).
        bind = op.get_bind()
        triggers = list(
            bind.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type='trigger' AND tbl_name='tickets'")
            ).scalars()
        )
        with op.batch_alter_table("tickets", recreate="always") as batch:
            batch.drop_column("queue_id")
        for sql in triggers:
            op.execute(sql)
    op.drop_table("queue_members")
    op.drop_table("queue_addresses")
    op.drop_table("queues")
