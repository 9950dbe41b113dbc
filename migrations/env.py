"""Alembic environment: uses the connection postdesk hands over, or POSTDESK_DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from desk.config import load_settings
from desk.models import Base


def _include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    """Full-text search lives outside the models (migrations 0011 and 0012): tsvector and
    word-pair columns and their indexes on PostgreSQL, FTS5 tables and their shadow tables
    on SQLite."""
    if name is None:
        return True
    if type_ == "table" and name.startswith("search_"):
        return False
    if type_ == "column" and name in ("search_vector", "search_pairs"):
        return False
    return not (type_ == "index" and name.endswith(("_search", "_pairs")))


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = create_async_engine(load_settings().database_url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the `alembic` command line, for developers writing a new revision
    asyncio.run(_run_from_settings())
