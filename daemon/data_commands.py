"""The command line's data commands: `postdesk backup PATH`, `postdesk restore PATH` and
`postdesk erase-customer EMAIL` (names fixed by API.md). Kept apart from daemon/cli.py,
which adds them with add_data_commands."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from daemon.backup import back_up, restore
from desk.config import Settings
from desk.context import open_desk
from desk.erasure import erase_customer


def add_data_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="copy the database and attachments into a new folder, while running"
    )
    backup.add_argument("path", type=Path)
    backup.set_defaults(handler=_backup)
    back = sub.add_parser("restore", help="restore a backup into an empty database and folder")
    back.add_argument("path", type=Path)
    back.set_defaults(handler=_restore)
    erase = sub.add_parser(
        "erase-customer", help="erase a customer's personal data (tickets stay, anonymized)"
    )
    erase.add_argument("email")
    erase.set_defaults(handler=_erase_customer)


async def _backup(settings: Settings, args: argparse.Namespace) -> int:
    summary = await asyncio.to_thread(back_up, settings, args.path)
    print(f"backed up the {summary} into {args.path}")
    return 0


async def _restore(settings: Settings, args: argparse.Namespace) -> int:
    summary = await asyncio.to_thread(restore, settings, args.path)
    print(f"restored the {summary}; `postdesk run` migrates it if it is older")
    return 0


async def _erase_customer(settings: Settings, args: argparse.Namespace) -> int:
    async with open_desk(settings) as desk:
        done = await erase_customer(desk, args.email, actor=None)
    print(
        f"erased customer {done.user_id}: {done.tickets} ticket(s) kept anonymized, "
        f"{done.messages} message(s) blanked, {done.attachments} attachment(s), "
        f"{done.inbound_mails} raw inbound and {done.outbound_mails} outgoing mail(s) removed"
    )
    return 0
