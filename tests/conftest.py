"""Fixtures: every database test runs on SQLite and (when selected) PostgreSQL + Redis.

POSTDESK_TEST_BACKENDS picks them (default `sqlite`; `.ci/run` also runs `postgres`).
A missing server skips with the reason, except under CI=true, where it fails.

Each test gets a daemon of its own (`daemon`, `api`, `team`). Tests that only check how bad
input is answered, and change nothing, share one daemon per module instead
(`shared_daemon`, `shared_api`, `shared_team`); they run in the module's event loop, so
they are marked `@pytest.mark.asyncio(loop_scope="module")` (SHARED below).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
import redis
from sqlalchemy import event

from daemon.lifecycle import Running, started
from desk.config import Settings, load_settings
from desk.db import Database
from desk.models import User
from desk.people import add_user
from tests.dovecot import Dovecot, dovecot_binary
from tests.people import PASSWORD, Team
from tests.sockets import Live
from tests.support import Api, Sink, free_port

# The browser fixture (`chromium`) for page tests.
pytest_plugins = ["tests.pages"]

MAILGUN_KEY = "mailgun-signing-key-for-tests"
PG_ADMIN_DSN = os.environ.get("POSTDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("POSTDESK_TEST_REDIS", "redis://127.0.0.1:6379/0")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"
# The mark of a test that uses the shared_* fixtures: it runs in their (the module's) loop.
SHARED = pytest.mark.asyncio(loop_scope="module")


def _backends() -> list[str]:
    raw = os.environ.get("POSTDESK_TEST_BACKENDS", "sqlite")
    return [b.strip() for b in raw.split(",") if b.strip()]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def _database(backend: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one daemon, dropped afterwards ("" on SQLite: the
    daemon makes its own file in its data folder, see `_environment`). `migrated`: a copy
    of a database migrated once per test process (the daemon finds it up to date), else
    empty, for the tests of the migrations themselves."""
    if backend == "sqlite":
        yield ""
        return
    if not _port_open("127.0.0.1", 5432):
        _unavailable("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"pd_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    template = f' TEMPLATE "{await _pg_template(admin)}"' if migrated else ""
    await admin.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield _pg_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _pg_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


# Migrating takes longer than the rest of a daemon's start: each test process migrates one
# database (SQLite file, PostgreSQL template) and every test starts from a copy of it.
_TEMPLATES: dict[str, str] = {}
TEMPLATE_PREFIX = "pd_template_"


async def _pg_template(admin: asyncpg.Connection) -> str:
    if "postgres" not in _TEMPLATES:
        name = f"{TEMPLATE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        database = Database(_pg_url(name))
        try:
            await database.migrate()
        finally:
            await database.dispose()
        _TEMPLATES["postgres"] = name
    return _TEMPLATES["postgres"]


def _sqlite_template() -> Path:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="postdesk-template-"))
        migrate = [sys.executable, "-m", "daemon", "migrate"]
        env = {**os.environ, "POSTDESK_DATA_DIR": str(folder), "POSTDESK_SECRET_KEY": SECRET}
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=300)
        _TEMPLATES["sqlite"] = str(folder / "postdesk.db")
    return Path(_TEMPLATES["sqlite"])


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    if "sqlite" in _TEMPLATES:
        shutil.rmtree(Path(_TEMPLATES["sqlite"]).parent, ignore_errors=True)
    if "postgres" in _TEMPLATES:

        async def drop(name: str) -> None:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

        asyncio.run(drop(_TEMPLATES["postgres"]))


def _migrated(request: pytest.FixtureRequest) -> bool:
    """False for a test marked `empty_database` (it migrates, or starts from nothing)."""
    return request.node.get_closest_marker("empty_database") is None


def _redis(backend: str) -> str:
    if backend == "sqlite":
        return ""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError:
        _unavailable("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
async def database_url(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with _database(backend, migrated=_migrated(request)) as url:
        yield url


@pytest.fixture
def redis_url(backend: str) -> str:
    return _redis(backend)


async def bounded(coro: Any, what: str, seconds: float = 30) -> None:
    """Await a teardown; if it hangs, show every task's stack and fail instead of hanging."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait([task], timeout=seconds)
    if task in done:
        task.result()
        return
    for other in asyncio.all_tasks():
        other.print_stack(file=sys.stderr)
    task.cancel()
    pytest.fail(f"{what} did not finish within {seconds}s")


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink(port=free_port())
    await s.start()
    yield s
    await bounded(s.stop(), "stopping the SMTP sink")


@pytest.fixture
def env(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    sink: Sink,
    request: pytest.FixtureRequest,
) -> dict[str, str]:
    """The environment a daemon under test runs with (also used for subprocesses)."""
    return _environment(tmp_path, database_url, redis_url, sink, migrated=_migrated(request))


def _environment(
    folder: Path, database_url: str, redis_url: str, sink: Sink, *, migrated: bool = True
) -> dict[str, str]:
    if not database_url and migrated:  # SQLite: the daemon's file, migrated already
        (folder / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template(), folder / "data" / "postdesk.db")
    values = {
        "POSTDESK_DATA_DIR": str(folder / "data"),
        "POSTDESK_SMTP_PORT": str(free_port()),
        "POSTDESK_HTTP_PORT": str(free_port()),
        "POSTDESK_SUPPORT_ADDRESS": "support@localhost",
        "POSTDESK_RELAY_URL": f"smtp://127.0.0.1:{sink.port}",
        "POSTDESK_SECRET_KEY": SECRET,
        "POSTDESK_PARSE_CPU_SECONDS": "5",
        "POSTDESK_UPLOAD_MAX_BYTES": str(64 * 1024),
        "POSTDESK_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
        "POSTDESK_WEBHOOK_ALLOW_PRIVATE": "true",  # the receivers in tests are on loopback
    }
    if database_url:
        values["POSTDESK_DATABASE_URL"] = database_url
    if redis_url:
        values["POSTDESK_REDIS_URL"] = redis_url
    return values


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        _unavailable("Dovecot is not installed (Debian package dovecot-imapd)")
    server = Dovecot.start(str(binary))
    yield server
    server.stop()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env, read_dotenv=False)


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[Running]:
    context = started(settings)
    running = await context.__aenter__()
    yield running
    await bounded(context.__aexit__(None, None, None), "stopping the daemon")


@pytest.fixture
async def api(daemon: Running, settings: Settings) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(base=f"http://127.0.0.1:{settings.http_port}", http=http)


async def _add_user(
    running: Running,
    email: str,
    role: str,
    password: str | None = "correct horse 1",
    name: str = "",
) -> User:
    async with running.desk.db.writer() as session:
        return await add_user(
            session,
            email=email,
            role=role,
            password=password,
            name=name or email.split("@")[0].title(),
        )


@pytest.fixture
async def make_user(daemon: Running):
    async def _make(
        email: str, role: str, password: str | None = "correct horse 1", name: str = ""
    ) -> User:
        return await _add_user(daemon, email, role, password, name)

    return _make


STAFF = {"agent1": "agent", "agent2": "agent", "admin": "admin"}
CUSTOMERS = ("carol", "dave")


@pytest.fixture
async def team(api: Api, daemon: Running) -> Team:
    """Two agents, an admin and two customers, each logged in."""
    return await _team(api, daemon)


async def _team(api: Api, running: Running) -> Team:
    t = Team(api)
    for name, role in STAFF.items():
        t.users[name] = await _add_user(running, f"{name}@localhost", role)
    for name in CUSTOMERS:
        t.users[name] = await _add_user(running, f"{name}@example.com", "customer")
    for name, user in t.users.items():
        t.tokens[name] = await api.token(user.email, PASSWORD)
    return t


# -- one daemon per module, for tests that change nothing (mark them SHARED) -----------------


@pytest.fixture(scope="module", params=_backends())
def shared_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_daemon(
    shared_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """A daemon the module's validation tests share, set up like `daemon`."""
    async with _database(shared_backend) as database_url:
        sink = Sink(port=free_port())
        await sink.start()
        try:
            folder = tmp_path_factory.mktemp("shared")
            env = _environment(folder, database_url, _redis(shared_backend), sink)
            context = started(load_settings(env, read_dotenv=False))
            running = await context.__aenter__()
            yield running
            await bounded(context.__aexit__(None, None, None), "stopping the shared daemon")
        finally:
            await bounded(sink.stop(), "stopping the shared SMTP sink")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_api(shared_daemon: Running) -> AsyncIterator[Api]:
    port = shared_daemon.desk.settings.http_port
    async with aiohttp.ClientSession() as http:
        yield Api(base=f"http://127.0.0.1:{port}", http=http)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_team(shared_api: Api, shared_daemon: Running) -> Team:
    """`team` on the shared daemon."""
    return await _team(shared_api, shared_daemon)


@pytest.fixture
def read_statements(daemon: Running) -> Iterator[list[str]]:
    """The SQL of every statement the daemon's read engine runs from now on."""
    db, statements = daemon.desk.db, []
    engine = db.read_engine.sync_engine

    def seen(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    yield statements
    event.remove(engine, "before_cursor_execute", seen)


@pytest.fixture
def live(team: Team) -> Live:
    """WebSocket clients acting as the team's members."""
    return Live(team)
