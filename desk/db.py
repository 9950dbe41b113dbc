"""Engines and sessions for SQLite (embedded default) and PostgreSQL, plus running migrations."""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Executable,
    String,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import Insert
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.util import LRUCache

_PASSED = object()  # a parameter's value comes from the caller, not the statement

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


# The per-request reads of Database.fetch are key lookups and index walks whose plans do
# not depend on the values: planning each call anew cost PostgreSQL more than running it
# (1-3 ms against 1 ms for a page of 50). Each statement is planned once per connection.
FAST_READ_SETTINGS = {"plan_cache_mode": "force_generic_plan", "jit": "off"}


class data_snapshot(FunctionElement[str]):
    """Which committed writes a statement sees. On PostgreSQL, the snapshot's text
    (`xmin:xmax:in-progress ids`, cluster-wide): the same text means the same data visible,
    and any write that commits anywhere changes it. NULL on SQLite, which has no such value
    across connections: nothing is remembered by it there."""

    type = String()
    inherit_cache = True


@compiles(data_snapshot)
def _no_snapshot(element: data_snapshot, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


@compiles(data_snapshot, "postgresql")
def _pg_snapshot(element: data_snapshot, compiler: SQLCompiler, **kw: Any) -> str:
    return "pg_current_snapshot()::text"


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
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_pool_lock = asyncio.Lock()
        self._driver_sql: LRUCache[Executable, _Prepared] = LRUCache(1000)
        # Told the SQL of each statement `fetch` sends past SQLAlchemy (whose own events see
        # the rest): how a test or the benchmark counts statements per request.
        self.fetch_listeners: list[Callable[[str], None]] = []

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
    async def searcher(self) -> AsyncIterator[AsyncSession]:
        """A read session for full-text search (see SEARCH_SETTINGS)."""
        async with self._search() as session:
            yield session

    async def fetch(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        """Rows of a read on the hot path of every request (the caller check, list pages),
        each addressed by column name. `statement` is built once and reused: every value
        that varies is a named bound parameter, and each call must pass every name (a
        reused statement never carries an earlier caller's value). On PostgreSQL its SQL
        is compiled once and run straight on asyncpg, a third of the cost of SQLAlchemy's
        execution per request; a statement with an IN list and every SQLite read go
        through SQLAlchemy."""
        prepared = self._prepared(statement)
        missing = prepared.named - params.keys()
        if missing:
            raise KeyError(f"no value passed for {sorted(missing)}")
        if prepared.sql is not None:
            values = [params[name] if value is _PASSED else value for name, value in prepared.slots]
            for listener in self.fetch_listeners:
                listener(prepared.sql)
            pool = self._driver_pool or await self._open_driver_pool()
            async with pool.acquire() as conn:
                return await conn.fetch(prepared.sql, *values)  # type: ignore[no-any-return]
        async with self.read_engine.connect() as conn:
            return (await conn.execute(statement, dict(params))).mappings().all()

    def _prepared(self, statement: Executable) -> _Prepared:
        found = self._driver_sql.get(statement)
        if found is None:
            found = self._driver_sql[statement] = _prepare(statement, self.read_engine.dialect)
        return found

    async def _open_driver_pool(self) -> asyncpg.Pool:
        async with self._driver_pool_lock:
            if self._driver_pool is None:
                dsn = make_url(self.url).set(drivername="postgresql")
                self._driver_pool = await asyncpg.create_pool(
                    dsn.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=20,
                    reset=_keep_connection,
                    server_settings=FAST_READ_SETTINGS,
                )
        return self._driver_pool

    async def dispose(self) -> None:
        if self._driver_pool is not None:
            await self._driver_pool.close()
        await self.write_engine.dispose()
        if self.is_sqlite:
            await self.read_engine.dispose()
        else:
            await self.search_engine.dispose()

    async def migrate(self) -> None:
        """Apply every Alembic revision; `postdesk run` calls this before serving."""
        async with self.write_engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID}
                )
            await conn.run_sync(_upgrade)

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


@dataclass(frozen=True)
class _Prepared:
    """A reused statement compiled for Database.fetch."""

    named: frozenset[str]  # the parameters every call must pass
    sql: str | None = None  # for the driver itself; None: run through SQLAlchemy
    slots: tuple[tuple[str, Any], ...] = ()  # per parameter: its constant value, or _PASSED


def _prepare(statement: Executable, dialect: Dialect) -> _Prepared:
    compiled = statement.compile(dialect=dialect)
    named = frozenset(name for name, bind in compiled.binds.items() if not bind.unique)
    if dialect.name != "postgresql" or any(p.expanding for p in compiled.post_compile_params):
        return _Prepared(named)
    # Constants SQLAlchemy leaves to execution time (a literal) are rendered now; rendering
    # wants a value for every parameter, which stands in for the ones each call passes.
    stand_ins = statement.params(dict.fromkeys(named))  # type: ignore[attr-defined]
    compiled = stand_ins.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    slots = tuple(
        (name, _PASSED if name in named else compiled.binds[name].effective_value)
        for name in compiled.positiontup or ()
    )
    return _Prepared(named, str(compiled), slots)


async def _keep_connection(_conn: asyncpg.Connection) -> None:
    """The fast read pool's connections only ever run single autocommit SELECTs, which leave
    no session state behind: asyncpg's reset on release (one more round trip) is skipped."""


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


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


class _SQLiteWriteSession(Session):
    """A write session on SQLite that gives new rows their ids itself.

    SQLite cannot tell which new id belongs to which row of a multi-row INSERT, so the ORM
    inserts rows whose id the database assigns one statement at a time: a batch of 40 mails
    took 176 INSERTs, at about 0.25 ms each through SQLAlchemy and aiosqlite, most of its
    time. Every write transaction here holds SQLite's only write lock from its first
    statement (BEGIN IMMEDIATE), so the largest id of a table cannot change under it: new
    rows get the next ids, the same ones SQLite would have chosen (largest + 1; the tables
    are not AUTOINCREMENT), and the ORM inserts each table's rows in one executemany."""


@event.listens_for(_SQLiteWriteSession, "before_flush")
def _hand_out_ids(session: Session, _context: Any, _instances: Any) -> None:
    """Read at each flush, not remembered: a Core INSERT between two flushes of the same
    transaction takes ids too."""
    waiting: dict[Column[Any], list[tuple[Any, str]]] = {}
    # In the order they were added, as the ORM would insert them (events rely on it).
    for obj in sorted(session.new, key=lambda o: inspect(o).insert_order):
        mapper = inspect(obj).mapper
        column = mapper.local_table.autoincrement_column
        if column is None or mapper.primary_key != (column,):
            continue
        key = mapper.get_property_by_column(column).key
        if getattr(obj, key) is None:
            waiting.setdefault(column, []).append((obj, key))
    for column, objs in waiting.items():
        largest = session.execute(select(func.max(column))).scalar() or 0
        for following, (obj, key) in enumerate(objs, start=largest + 1):
            setattr(obj, key, following)


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering table hints (`INDEXED BY`) that SQLAlchemy's own
    leaves out: the one way to steer SQLite's planner to an index for one statement."""

    def get_from_hint_text(self, table: Any, text: str) -> str:
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

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
