"""companies tags history otp

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:15:29.602222
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("name", name=op.f("uq_companies_name")),
    )
    op.create_table(
        "otp_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verification_hash", sa.String(length=64), nullable=True),
        sa.Column("verified_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_codes")),
        sa.UniqueConstraint("verification_hash", name=op.f("uq_otp_codes_verification_hash")),
    )
    with op.batch_alter_table("otp_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_otp_codes_email"), ["email"], unique=False)

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "company_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_domains_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_company_domains")),
    )
    op.create_table(
        "ticket_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_changes_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_changes_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_changes")),
    )
    with op.batch_alter_table("ticket_changes", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_changes_ticket", ["ticket_id", "id"], unique=False)

    op.create_table(
        "ticket_tags",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_ticket_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_tags_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "tag_id", name=op.f("pk_ticket_tags")),
    )
    with op.batch_alter_table("ticket_tags", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_tags_tag", ["tag_id", "ticket_id"], unique=False)

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tickets_company_id"), ["company_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_company_id_companies"), "companies", ["company_id"], ["id"]
        )
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notify_on_reply", sa.Boolean(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("is_company_admin", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_users_company_id"), ["company_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_users_company_id_companies"), "companies", ["company_id"], ["id"]
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_company_id_companies"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_users_company_id"))
        batch_op.drop_column("is_company_admin")
        batch_op.drop_column("company_id")
        batch_op.drop_column("notify_on_reply")

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tickets_company_id_companies"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tickets_company_id"))
        batch_op.drop_column("company_id")
        batch_op.drop_column("assigned_at")

    with op.batch_alter_table("ticket_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_tags_tag")

    op.drop_table("ticket_tags")
    with op.batch_alter_table("ticket_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_changes_ticket")

    op.drop_table("ticket_changes")
    op.drop_table("company_domains")
    op.drop_table("tags")
    with op.batch_alter_table("otp_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otp_codes_email"))

    op.drop_table("otp_codes")
    op.drop_table("companies")
