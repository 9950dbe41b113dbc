"""Engines and sessions for SQLite (embedded default) and PostgreSQL, plus running migrations."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    ColumnElement,
    ColumnExpressionArgument,
    Connection,
    Insert,
    column,
    event,
    func,
    inspect,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from desk.private_files import private_file
from desk.search.cjk import search_text

MIGRATION_LOCK_ID = 0x706F7374  # "post": one migrator at a time across replicas

# Full-text searches on PostgreSQL plan on connections of their own, set up at connect time
# (no extra round trip per search). A custom plan every time: a plan cached for one word
# would walk the index newest-first for a rare word too. No parallel workers or JIT:
# starting them costs more than a search's few milliseconds of work. Random reads priced
# as on SSD or in memory (1.1, the usual advice for both, against 4 for spinning disks):
# otherwise the planner hashes every ticket an agent may see to check a few hundred
# matches, instead of looking each one up.
SEARCH_SETTINGS = {
    "plan_cache_mode": "force_custom_plan",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "random_page_cost": "1.1",
}


class Database:
    """Owns the engines. Writes go through `writer()`, reads through `reader()`.

    On SQLite every write transaction starts with BEGIN IMMEDIATE: a deferred transaction
    that reads and then writes can fail with SQLITE_BUSY_SNAPSHOT, which no busy timeout
    retries. Readers keep deferred transactions so they never wait for the write lock.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _private_sqlite_file(url)
            self.write_engine = create_async_engine(url, echo=echo)
            self.read_engine = create_async_engine(url, echo=echo)
            _configure_sqlite(self.write_engine, immediate=True)
            _configure_sqlite(self.read_engine, immediate=False)
        else:
            # Connections kept open for as many requests as a busy process has in flight:
            # one opened past the pool is closed again when returned, and opening one (TLS
            # probe, login, type lookups) costs more CPU than the query it was opened for.
            self.write_engine = create_async_engine(url, echo=echo, pool_size=20, max_overflow=10)
            # Reads need no transaction of their own: without BEGIN/ROLLBACK a request saves
            # two round trips per session (each statement still sees a consistent snapshot).
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
            self.search_engine = create_async_engine(
                url,
                echo=echo,
                pool_size=4,
                max_overflow=6,
                isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": SEARCH_SETTINGS},
            )
        self._write = async_sessionmaker(
            self.write_engine,
            expire_on_commit=False,
            sync_session_class=_SQLiteWriteSession if self.is_sqlite else Session,
        )
        # SQLite has one writer. Queueing writers here wakes the next one the moment the
        # lock is free; SQLite's own busy handler polls with sleeps of up to 100 ms.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._search = self._read
        if not self.is_sqlite:
            self._search = async_sessionmaker(self.search_engine, expire_on_commit=False)

    @asynccontextmanager
    async def statement_writer(self) -> AsyncIterator[AsyncSession]:
        """For writes that are each one atomic statement. On PostgreSQL each commits by
        itself (autocommit: no BEGIN and COMMIT round trips, two thirds of a group commit
        of raw mail); on SQLite this is `writer()`, for its write lock."""
        if self.is_sqlite:
            async with self.writer() as session:
                yield session
            return
        async with self._read() as session:  # the AUTOCOMMIT engine
            yield session

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed on normal exit, rolled back on any exception."""
        if self._write_lock is None:
            async with self._write() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def reader_connection(self) -> AsyncIterator[AsyncConnection]:
        """The reads of `reader()` as a Core connection, for statements that read rows, not
        ORM objects (the per-request paths: the caller check, ticket lists and details): it
        spares the session's own work around each statement."""
        async with self.read_engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def searcher(self) -> AsyncIterator[AsyncSession]:
        """A read session for full-text search (see SEARCH_SETTINGS)."""
        async with self._search() as session:
            yield session

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.is_sqlite:
            await self.read_engine.dispose()
        else:
            await self.search_engine.dispose()

    async def migrate(self) -> list[str]:
        """Apply every Alembic revision; `postdesk run` calls this before serving. The
        revisions applied now, oldest first (none: the schema was up to date)."""
        async with self.write_engine.connect() as conn:
            if self.is_sqlite:
                return await conn.run_sync(_upgrade_sqlite)
            async with conn.begin():
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID}
                )
                return await conn.run_sync(_upgrade)

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migration_lag(self) -> tuple[str | None, str | None]:
        """(the database's Alembic revision, the latest this code knows); equal when the
        schema is up to date. None as the first: never migrated. Raises if the database
        does not answer."""
        async with self.read_engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        return current, _head_revision()


def _private_sqlite_file(url: str) -> None:
    """The database file 0600 before SQLite opens it (its -wal and -shm files take the
    database file's permissions)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))


def insert_ignoring_conflicts(session: AsyncSession, model: type[Any]) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the session's own dialect."""
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(importlib.resources.files("migrations")))
    return cfg


@functools.cache
def _head_revision() -> str | None:
    """The latest revision of the migrations shipped with this code (read once: they do
    not change while the process runs)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> list[str]:
    """Upgrade to the head; the revisions it took, oldest first."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(cfg, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    if after is None or after == before:
        return []
    steps = ScriptDirectory.from_config(cfg).iterate_revisions(after, before or "base")
    return [step.revision for step in reversed(list(steps)) if step is not None]


def _upgrade_sqlite(connection: Connection) -> list[str]:
    """Migrations with foreign keys off, as SQLite's procedure for rebuilding a table asks:
    dropping the old copy would otherwise delete, by cascade, every row that refers to it.
    The pragma only takes effect outside a transaction, so it is set before BEGIN, and the
    references are checked before the migration commits."""
    _foreign_keys(connection, on=False)
    try:
        with connection.begin():
            applied = _upgrade(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left broken references: {broken[:5]}")
        return applied
    finally:
        _foreign_keys(connection, on=True)


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    """Below SQLAlchemy, which would open a transaction first."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


class _SQLiteWriteSession(Session):
    """A write session on SQLite that gives new rows their ids itself, so that the ORM
    inserts each table's new rows in one executemany.

    Left to the database, those rows go in one INSERT each: SQLite cannot say which new id
    belongs to which row of a multi-row INSERT, so SQLAlchemy sends them one at a time, and
    a flush of a mail batch is mostly those round trips through aiosqlite. Every write
    transaction here holds SQLite's only write lock from its first statement (BEGIN
    IMMEDIATE), so no other writer can take an id meanwhile. Ids are never given twice:
    the next one follows the largest ever given, which for a table whose rows can be
    deleted (AUTOINCREMENT) SQLite keeps in `sqlite_sequence`, deleted rows included."""


@event.listens_for(_SQLiteWriteSession, "before_flush")
def _hand_out_ids(session: Session, _context: Any, _instances: Any) -> None:
    """Read at each flush, not remembered: a Core INSERT between two flushes of the same
    transaction takes ids too."""
    waiting: dict[Column[Any], list[tuple[Any, str]]] = {}
    # In the order they were added, as the ORM would insert them (events rely on it).
    for obj in sorted(session.new, key=lambda o: inspect(o).insert_order):
        mapper = inspect(obj).mapper
        id_column = mapper.local_table.autoincrement_column
        if id_column is None or mapper.primary_key != (id_column,):
            continue
        key = mapper.get_property_by_column(id_column).key
        if getattr(obj, key) is None:
            waiting.setdefault(id_column, []).append((obj, key))
    if not waiting:
        return
    last = _last_ids_given(session, list(waiting))
    for id_column, objs in waiting.items():
        for following, (obj, key) in enumerate(objs, start=last[id_column] + 1):
            setattr(obj, key, following)


def _last_ids_given(session: Session, columns: list[Column[Any]]) -> dict[Column[Any], int]:
    """The largest id each table has ever given: its largest row, or for an AUTOINCREMENT
    table the larger of that and SQLite's own record (which a deleted row leaves behind).
    One statement for every table of the flush: each statement is a round trip through
    aiosqlite's thread, and a mail batch's flush inserts into half a dozen tables."""
    sequence = table("sqlite_sequence", column("name"), column("seq"))
    asked: list[Any] = []
    for id_column in columns:
        largest: ColumnElement[Any] = select(func.max(id_column)).scalar_subquery()
        if id_column.table.dialect_options["sqlite"]["autoincrement"]:
            recorded = (
                select(sequence.c.seq).where(sequence.c.name == id_column.table.name)
            ).scalar_subquery()
            largest = func.max(func.coalesce(largest, 0), func.coalesce(recorded, 0))
        asked.append(largest)
    found = session.execute(select(*asked)).one()
    return {c: int(n or 0) for c, n in zip(columns, found, strict=True)}


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering table hints (`INDEXED BY`) that SQLAlchemy's own
    leaves out: the one way to steer SQLite's planner to an index for one statement."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Committed means durable: WAL with synchronous=FULL (NORMAL can lose the last
        # commits on power loss). busy_timeout lets the writers queue instead of failing.
        if immediate:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # The search index's text (desk/search/cjk.py), used by its triggers and views.
        dbapi_connection.create_function("search_text", 1, search_text, deterministic=True)

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def text_search(text: str, *columns: ColumnExpressionArgument[str]) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, case-insensitive, taken literally: LIKE's
    wildcards (% and _) and the escape character in it match only themselves (SQLAlchemy's
    `autoescape`). The one way lists search a substring (customers, staff, users)."""
    needle = text.strip().lower()
    return or_(*(func.lower(c).contains(needle, autoescape=True) for c in columns))
