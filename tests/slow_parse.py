"""A parse that is slow on purpose, for tests of what a slow mail holds up: imported by the
parse workers (the pool hands them this function by name), so it lives in a module of its
own and not in a test file."""

from __future__ import annotations

import re
import time
from pathlib import Path

from desk.mail.parse import Limits
from desk.mail.prepare import CpuBudgetExceeded, ParseResult, cpu_budget, prepare, unreadable

STALL_HEADER = "X-Test-Stall"
_STALL = re.compile(rb"^X-Test-Stall: *(\S+)", re.MULTILINE)


def stalling_prepare(raw: bytes, limits: Limits, attachments_dir: str) -> ParseResult:
    """`prepare`, except for a mail with an X-Test-Stall header naming a file: its parse
    waits until that file exists, then burns CPU until the real CPU budget interrupts it,
    and the mail is kept as unreadable with that reason (what a hostile mail comes to)."""
    stall = _STALL.search(raw)
    if stall is None:
        return prepare(raw, limits, attachments_dir)
    release = Path(stall[1].decode())
    while not release.exists():
        time.sleep(0.01)
    try:
        with cpu_budget(0.1):
            while True:
                pass
    except CpuBudgetExceeded as exc:
        return unreadable(raw, str(exc), attachments_dir)
