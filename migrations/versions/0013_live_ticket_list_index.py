"""live ticket list index: a page of the default list read from the index alone

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 10:00:00

The default ticket list (live tickets, newest change first) pages with OFFSET; the page's
ids are chosen from this partial index without visiting the table, and only the page's
own rows are read (desk/tickets/queries.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "updated_at",
    "id",
    "assigned_agent_id",
    "customer_id",
    "company_id",
    "status",
    "priority",
    "created_at",
]


def upgrade() -> None:
    live = sa.text("archived_at IS NULL")
    op.create_index(
        "ix_tickets_live_updated", "tickets", COLUMNS, postgresql_where=live, sqlite_where=live
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_live_updated", table_name="tickets")
