"""`postdesk` under cProfile, its main thread timed by that thread's own CPU clock
(`time.thread_time`), so what else runs on the machine, and the SQLite threads, do not
move the figures. Started by `bench.ingest --profile FILE`:

    POSTDESK_BENCH_PROFILE=out.prof python -m bench.profile_daemon run

SIGUSR1 starts the profile, SIGUSR2 stops it and writes FILE (pstats format; read it with
`python -m pstats FILE`), so the start-up and the stop stay out of it.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time
from types import FrameType

from daemon.cli import main as postdesk


def main() -> int:
    out = os.environ["POSTDESK_BENCH_PROFILE"]
    profile = cProfile.Profile(time.thread_time)

    def start(_signum: int, _frame: FrameType | None) -> None:
        profile.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(out + ".part")
        os.replace(out + ".part", out)  # whole or not there: the bench waits for it

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return postdesk(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
