"""The `postdesk` command line (names fixed by API.md)."""

from __future__ import annotations

import argparse
import getpass
import importlib.metadata
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop

from daemon.backup import ToolMissing
from daemon.cli_mail import as_json, inbound_text, outbox_text, shown
from daemon.data_commands import add_data_commands
from daemon.importer import CannotImport, import_archive
from daemon.lifecycle import ROLES, ComponentMissing, serve
from daemon.logs import setup_logging
from daemon.worker_pool import WorkerPool
from desk.config import Settings, load_settings
from desk.context import open_desk
from desk.db import Database
from desk.errors import ConfigError, DeskError
from desk.inbound_admin import inbound_detail
from desk.intake import inbound_mail, list_inbound, retry
from desk.mail.parse import parse_limits
from desk.outbox import LISTED_STATES, list_outbox
from desk.outbox_admin import outbox_record
from desk.people import add_user
from desk.startup import CannotStart, check_database, prepare_data_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 1 the command failed (an unknown id, a mail
    that could not be imported); 2 the settings or the machine do not allow it (one line
    on stderr saying what to fix); 130 interrupted."""
    args = _parser().parse_args(argv)
    setup_logging()  # until the settings say otherwise (they may be what is wrong)
    try:
        settings = load_settings()
        setup_logging(settings.log_level, settings.log_format)
        # uvloop: the same asyncio, on libuv's event loop (about 1.3x the requests per
        # second of the standard loop for the ticket list here, docs/benchmarks.md).
        code = int(uvloop.run(args.handler(settings, args)) or 0)
        sys.stdout.flush()  # here, where a reader gone away is handled below
        return code
    except START_PROBLEMS as exc:
        print(f"postdesk: {exc.message}", file=sys.stderr)
        return 2
    except DeskError as exc:  # the command itself failed: a user that exists, a full folder
        print(f"postdesk: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130


# What exits 2: the settings or the machine do not allow it (README "Starting and
# stopping"); any other DeskError is a failed command (1).
START_PROBLEMS = (ConfigError, CannotStart, ComponentMissing, ToolMissing)


def quiet_broken_pipe() -> int:
    """The reader of our output went away (`postdesk outbox list | head`): not an error
    to report. stdout is pointed at /dev/null so the interpreter's final flush does not
    raise again (Python's documented recipe, "Note on SIGPIPE"); exit 0 as `head` expects
    of a writer it stopped reading."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postdesk", description="Email-first helpdesk daemon")
    parser.add_argument(
        "--version", action="version", version=f"postdesk {importlib.metadata.version('postdesk')}"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon (migrates first)")
    run.add_argument("--role", choices=ROLES, default="all")
    run.set_defaults(handler=_run)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    add = sub.add_parser("adduser", help="create a user")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=("admin", "agent", "customer"))
    add.add_argument("--password")
    add.add_argument("--name", default="")
    add.set_defaults(handler=_adduser)
    archive = sub.add_parser("import-mbox", help="import an mbox file or a Maildir folder")
    archive.add_argument("path", type=Path)
    archive.add_argument("--no-progress", action="store_true", help="no progress bar")
    archive.add_argument(
        "--open",
        action="store_true",
        help="leave the tickets it opens OPEN (for auto-assignment); default RESOLVED",
    )
    archive.set_defaults(handler=_import_mbox)
    inbound = sub.add_parser("inbound", help="stored inbound mail").add_subparsers(required=True)
    listing = inbound.add_parser("list", help="list stored inbound mail")
    listing.add_argument(
        "--state", choices=("received", "failed", "processed", "ignored", "all"), default="all"
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_inbound_list)
    again = inbound.add_parser("retry", help="process stored mail again")
    again.add_argument("id", nargs="?", type=int)
    again.add_argument("--all-failed", action="store_true")
    again.set_defaults(handler=_inbound_retry)
    show = inbound.add_parser("show", help="one stored mail: headers, parse result, reason")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.add_argument("--source", action="store_true", help="also the raw message (escaped)")
    show.set_defaults(handler=_inbound_show)
    outbox = sub.add_parser("outbox", help="outgoing mail").add_subparsers(required=True)
    sent = outbox.add_parser("list", help="list outgoing mail")
    sent.add_argument("--state", choices=tuple(LISTED_STATES))
    sent.add_argument("--json", action="store_true")
    sent.set_defaults(handler=_outbox_list)
    add_data_commands(sub)
    return parser


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await serve(settings, args.role)
    return 0


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    prepare_data_dir(settings.data_dir)
    db = Database(settings.database_url)
    try:
        await check_database(db)
        applied = await db.migrate()
    finally:
        await db.dispose()
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    print("database is up to date")
    return 0


async def _adduser(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password
    if password is None and args.role != "customer" and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    async with open_desk(settings) as desk, desk.db.writer() as session:
        user = await add_user(
            session, email=args.email, role=args.role, password=password, name=args.name
        )
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


async def _import_mbox(settings: Settings, args: argparse.Namespace) -> int:
    pool = WorkerPool(parse_limits(settings), str(settings.attachments_dir))
    try:
        async with open_desk(settings) as desk:
            summary = await import_archive(
                desk, pool.prepare, args.path, progress=not args.no_progress, keep_open=args.open
            )
    except CannotImport as exc:  # not an archive: nothing was imported, and that is an error
        print(f"postdesk: {exc.message}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    print(summary)
    return 1 if summary.failed else 0


async def _inbound_list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_desk(settings) as desk:
        rows = await list_inbound(desk.db, args.state)
    for row in rows:
        record = {
            "id": row.id,
            "message_id": row.message_id,
            "sender": row.sender or row.mail_from,
            "state": row.state,
            "error": row.error,
            "ticket_id": row.ticket_id,
        }
        if args.json:
            print(json.dumps(record))
        else:
            print(
                f"{row.id:>7}  {row.state:<9}  ticket {row.ticket_id or '-':<6}  "
                f"{(row.sender or row.mail_from or '-')[:40]:<40}  {row.error or ''}"
            )
    if not args.json:
        print(f"{len(rows)} message(s)")
    return 0


async def _inbound_retry(settings: Settings, args: argparse.Namespace) -> int:
    if (args.id is None) == (not args.all_failed):
        print("postdesk: give one ID or --all-failed", file=sys.stderr)
        return 2
    async with open_desk(settings) as desk:
        if args.id is not None:
            await inbound_mail(desk.db, args.id)  # NotFound: exit 1, saying so
        count = await retry(desk.db, None if args.all_failed else [args.id])
    print(f"{count} message(s) queued for processing; a running daemon picks them up")
    return 0


async def _inbound_show(settings: Settings, args: argparse.Namespace) -> int:
    async with open_desk(settings) as desk:
        record = await inbound_detail(desk.db, args.id)
    source = record.pop("source_text")
    if args.json:
        print(as_json({**record, "source_text": source} if args.source else record))
        return 0
    print(inbound_text(record))
    if args.source:
        print("\nsource:\n" + "\n".join(shown(line) for line in source.splitlines()))
    return 0


async def _outbox_list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_desk(settings) as desk:
        rows = await list_outbox(desk.db, args.state)
    for row in rows:
        print(as_json(outbox_record(row)) if args.json else outbox_text(row))
    if not args.json:
        print(f"{len(rows)} message(s)")
    return 0
