"""ids never reused on SQLite: AUTOINCREMENT for tables whose rows can be deleted

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 20:00:00

Without AUTOINCREMENT, SQLite gives a new row the largest id plus one, so after the newest
row was deleted the next one took its id again: a client still holding the old id (of a
chat message, say) would then address another row. With it, SQLite records the largest id
ever given (`sqlite_sequence`) and never goes below it. SQLite can only add AUTOINCREMENT by
building the table anew, which batch mode does (with foreign keys off: desk/db.py). On
PostgreSQL ids come from sequences, which never go back: nothing to do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table with an integer id whose rows are deleted by someone: chat rooms and messages
# (by their authors), webhooks with their deliveries and attempts, one-time codes and events
# (by housekeeping).
TABLES = (
    "chat_rooms",
    "chat_messages",
    "webhook_subscriptions",
    "webhook_deliveries",
    "webhook_attempts",
    "otp_codes",
    "events",
)


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        # Dropping the old table drops its triggers (chat messages keep their full-text
        # index up to date by triggers, migration 0011): made again on the new one.
        triggers = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": table},
        ).scalars()
        remade = list(triggers)
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
        for sql in remade:
            op.execute(sql)
