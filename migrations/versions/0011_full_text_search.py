"""full-text search: tsvector columns with GIN indexes on PostgreSQL, FTS5 tables kept in
step by triggers on SQLite

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 07:35:00

Neither is mapped in the models (they are engine-specific and only searched through
desk/search); migrations/env.py keeps autogenerate from proposing to drop them.
Both engines tokenize without stemming ('simple' / unicode61): customers write in every
language, and the two engines then match the same words.
"""

# ruff: noqa: S608  (the SQL is built from the constant table list above, never from input)
from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (the text it is searched by on PostgreSQL, FTS5 columns on SQLite)
# A tsvector holds at most 1 MB: a message body is indexed up to its first 200,000 chars.
SOURCES = {
    "tickets": ("coalesce(subject, '')", ("subject",)),
    "ticket_messages": ("left(coalesce(body_text, ''), 200000)", ("body_text",)),
    "users": (
        "coalesce(name, '') || ' ' || email || ' ' || translate(email, '@.', '  ')",
        ("name", "email"),
    ),
    "chat_messages": ("left(coalesce(body, ''), 200000)", ("body",)),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, (text, _) in SOURCES.items():
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                f"GENERATED ALWAYS AS (to_tsvector('simple', {text})) STORED"
            )
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")
        return
    for table, (_, columns) in SOURCES.items():
        fts = f"search_{table}"
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
            f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
            f"END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in SOURCES:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
        return
    for table in SOURCES:
        fts = f"search_{table}"
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
