"""attachments: damaged parts and files of forwarded messages

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 23:30:00

A MIME part that does not decode whole (base64 cut short, an unknown transfer encoding) is
kept as far as it decodes and marked `damaged` with the reason; a file that came inside a
forwarded message (message/rfc822) points at that message's .eml attachment, so it is listed
under the forward and not as the customer's own file.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("damaged", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("damage_reason", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("forwarded_in_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_attachments_forwarded_in_id_attachments"),
            "attachments",
            ["forwarded_in_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_attachments_forwarded_in_id_attachments"), type_="foreignkey"
        )
        batch_op.drop_column("forwarded_in_id")
        batch_op.drop_column("damage_reason")
        batch_op.drop_column("damaged")
