"""staff availability

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:46:09.345585
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_available", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("capacity", sa.Integer(), server_default="10", nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("capacity")
        batch_op.drop_column("is_available")
