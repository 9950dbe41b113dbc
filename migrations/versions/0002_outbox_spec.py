"""outbox rows keep what to send; the sender composes the bytes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Rows not yet composed cannot keep a NULL raw; they are dropped with the column.
    op.execute("DELETE FROM outbox WHERE raw IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("spec")
