"""search: a word of Chinese, Japanese or Korean found inside a run of such text

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 06:30:00

Both engines took a whole run of CJK characters as one word, so `請求書` was not found in
`請求書の件で`. The indexed text now has a zero-width space between every two adjacent
CJK characters (desk/search/cjk.py), making each a word of its own; a CJK word in a query
is searched as the phrase of its characters. Other text is indexed as before.

PostgreSQL: `search_text()` below, the generated search_vector (and ticket_messages'
search_pairs) recomputed through it: the tables are rewritten and their GIN indexes
rebuilt, which takes about as long as creating them did (migration 0011).
SQLite: the FTS5 tables read their text through views applying `search_text`, a function
every connection of the daemon registers (desk/db.py); a connection without it (the
sqlite3 shell) can read but not write these tables. The FTS5 tables are rebuilt.
"""

# ruff: noqa: S608  (the SQL is built from the constant table list above, never from input)
import re
from collections.abc import Sequence
from typing import Any

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out as desk/search/cjk.py has it (a migration does not follow later code).
CJK = (
    "\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0002fa1f"
)
_RUN = re.compile(f"[{CJK}]{{2,}}")
# PostgreSQL's regular expressions read \\uXXXX and \\UXXXXXXXX as the same characters.
_PG_CLASS = "".join(c if c == "-" else f"\\U{ord(c):08x}" for c in CJK)
SEARCH_TEXT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION search_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(t, '([{_PG_CLASS}])(?=[{_PG_CLASS}])', E'\\\\1\\u200b', 'g')
$$
"""

# table -> (the text it is searched by on PostgreSQL, FTS5 columns on SQLite): migration 0011's
SOURCES = {
    "tickets": ("coalesce(subject, '')", ("subject",)),
    "ticket_messages": ("left(coalesce(body_text, ''), 200000)", ("body_text",)),
    "users": (
        "coalesce(name, '') || ' ' || email || ' ' || translate(email, '@.', '  ')",
        ("name", "email"),
    ),
    "chat_messages": ("left(coalesce(body, ''), 200000)", ("body",)),
}
PAIRED = "ticket_messages"  # migration 0012


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SEARCH_TEXT_FUNCTION)
        _postgres_columns(lambda text: f"search_text({text})")
        return
    _register(op.get_bind())
    for table, (_, columns) in SOURCES.items():
        view = f"search_text_{table}"
        as_indexed = ", ".join(f"search_text({c}) AS {c}" for c in columns)
        op.execute(f"CREATE VIEW {view} AS SELECT id, {as_indexed} FROM {table}")
        _sqlite_index(table, columns, content=view, text="search_text({})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_columns(lambda text: text)
        op.execute("DROP FUNCTION IF EXISTS search_text(text)")
        return
    _register(op.get_bind())
    for table, (_, columns) in SOURCES.items():
        _sqlite_index(table, columns, content=table, text="{}")
        op.execute(f"DROP VIEW IF EXISTS search_text_{table}")


def _postgres_columns(wrap: Any) -> None:
    """search_vector (and search_pairs) generated from `wrap(text)`, with their indexes."""
    for table, (text, _) in SOURCES.items():
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('simple', {wrap(text)})) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")
    text = SOURCES[PAIRED][0]
    op.execute("DROP INDEX IF EXISTS ix_ticket_messages_pairs")
    op.execute("ALTER TABLE ticket_messages DROP COLUMN IF EXISTS search_pairs")
    op.execute(
        "ALTER TABLE ticket_messages ADD COLUMN search_pairs bigint[] GENERATED ALWAYS AS "
        f"(search_pairs(to_tsvector('simple', {wrap(text)}))) STORED"
    )
    op.execute("CREATE INDEX ix_ticket_messages_pairs ON ticket_messages USING gin (search_pairs)")


def _sqlite_index(table: str, columns: Sequence[str], *, content: str, text: str) -> None:
    """The FTS5 table of `table` made anew over `content`, its triggers writing
    `text.format(column)`, and filled."""
    fts = f"search_{table}"
    for suffix in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
    op.execute(f"DROP TABLE IF EXISTS {fts}")
    names = ", ".join(columns)
    new = ", ".join(text.format(f"new.{c}") for c in columns)
    old = ", ".join(text.format(f"old.{c}") for c in columns)
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{content}', "
        f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
    )
    op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def _search_text(text: str | None) -> str | None:
    return None if text is None else _RUN.sub(lambda run: "\u200b".join(run.group()), text)


def _register(bind: Any) -> None:
    """`search_text` on this connection, unless it has it (the daemon's connections have
    it from their start: desk/db.py). SQLite refuses a new function while a statement of
    the connection is still open, which alembic's may be."""
    try:
        bind.exec_driver_sql("SELECT search_text('')").fetchall()
        return
    except Exception:  # noqa: S110  (not there: registered below)
        pass
    bind.connection.dbapi_connection.create_function(
        "search_text", 1, _search_text, deterministic=True
    )
