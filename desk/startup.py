"""What postdesk checks as it starts, so that a problem with the machine or the settings is
one line naming the fix (the command line prints it and exits with code 2), not a traceback:
the data folder, the database server and database, Redis, and the ports to listen on."""

from __future__ import annotations

import errno
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import redis.asyncio as redis
from sqlalchemy.engine import make_url

from desk.db import Database
from desk.errors import DeskError

# PostgreSQL's SQLSTATEs for a start that cannot work (asyncpg and SQLAlchemy carry them).
MISSING_DATABASE = "3D000"  # invalid_catalog_name
REFUSED_LOGIN = ("28000", "28P01")  # invalid authorization / password
E = TypeVar("E", bound=BaseException)


class CannotStart(DeskError):
    code = "cannot_start"


def prepare_data_dir(path: Path) -> None:
    """Make the data folder (with its spool folder) and prove it can be written."""
    try:
        (path / "spool").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise data_dir_error(path, exc) from None


def data_dir_error(path: Path, exc: OSError) -> CannotStart:
    return CannotStart(
        f"POSTDESK_DATA_DIR: the data folder {path} cannot be written: {exc.strerror or exc}"
    )


async def check_database(db: Database) -> None:
    """Connect once; a server, database or login that is not there becomes CannotStart."""
    try:
        async with db.write_engine.connect():
            pass
    except Exception as exc:
        problem = database_problem(db.url, exc)
        if problem is None:
            raise
        raise problem from None


def database_problem(url: str, exc: BaseException) -> CannotStart | None:
    """The one line for a failed connection, or None for a failure it does not know."""
    if url.startswith("sqlite"):
        found = _find(exc, sqlite3.Error)
        if found is None:
            return None
        return CannotStart(f"cannot open the SQLite database {make_url(url).database}: {found}")
    parts = make_url(url)
    host, port = parts.host or "localhost", parts.port or 5432
    user, name = parts.username or "postgres", parts.database
    where = f"PostgreSQL at {host}:{port}"
    for error in _chain(exc):
        state = getattr(error, "sqlstate", None)
        if state == MISSING_DATABASE:
            return CannotStart(
                f"the database {name!r} does not exist on {where}; create it with: "
                f"createdb -h {host} -p {port} -U {user} {name}"
            )
        if state in REFUSED_LOGIN:
            return CannotStart(f"{where} refused the login of user {user!r}: {error}")
    return _network_problem(exc, where, "POSTDESK_DATABASE_URL")


async def check_redis(url: str, timeout: float = 10.0) -> None:
    """One PING (connecting and answering within `timeout` seconds each): Redis refusing
    or absent becomes CannotStart naming host and port."""
    parts = make_url(url.replace("rediss://", "redis://", 1))
    where = f"Redis at {parts.host or 'localhost'}:{parts.port or 6379}"
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await client.ping()
    except redis.AuthenticationError as exc:
        raise CannotStart(f"{where} refused the login (POSTDESK_REDIS_URL): {exc}") from None
    except (redis.ConnectionError, OSError) as exc:
        problem = _network_problem(exc, where, "POSTDESK_REDIS_URL")
        raise (problem or CannotStart(f"cannot reach {where}: {exc}")) from None
    finally:
        await client.aclose()


def _network_problem(exc: BaseException, where: str, setting: str) -> CannotStart | None:
    """A server that refuses, cannot be found or does not answer."""
    if _find(exc, socket.gaierror) is not None:
        return CannotStart(f"cannot find the host of {where} ({setting})")
    refused = f"[Errno {errno.ECONNREFUSED}]"  # asyncpg: one OSError for every address tried
    if _find(exc, ConnectionRefusedError) is not None or any(
        refused in str(e) for e in _chain(exc)
    ):
        return CannotStart(f"{where} refuses connections ({setting}): is it running there?")
    if _find(exc, TimeoutError) is not None:
        return CannotStart(f"{where} did not answer ({setting})")
    found = _find(exc, OSError)
    if found is not None:
        return CannotStart(f"cannot reach {where} ({setting}): {found}")
    return None


def check_can_listen(what: str, setting: str, host: str, port: int) -> None:
    """Bind the port once and let it go, before anything starts, so that a port in use is
    the only line printed (the real bind, moments later, reports a race the same way)."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise listen_problem(what, setting, host, port, exc) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise listen_problem(what, setting, host, port, exc) from None


def listen_problem(what: str, setting: str, host: str, port: int, exc: OSError) -> CannotStart:
    """The one line for a listener that could not start (`what`: SMTP, HTTP)."""
    code = exc.errno
    if code == errno.EADDRINUSE:
        problem = f"port {port} on {host} is already in use"
    elif code == errno.EACCES:
        problem = f"not allowed to listen on port {port} (below 1024 needs privileges)"
    elif code == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        problem = f"{host} is not an address of this machine"
    else:
        problem = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return CannotStart(f"{what}: {problem} ({setting})")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it and what it wraps (SQLAlchemy's `orig`), each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        todo += [error.__cause__, error.__context__, getattr(error, "orig", None)]
        if isinstance(error, BaseExceptionGroup):
            todo += list(error.exceptions)


def _find(exc: BaseException, kind: type[E]) -> E | None:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)
