"""How the daemon's log looks (POSTDESK_LOG_FORMAT, POSTDESK_LOG_LEVEL): set up once by the
command line. Lines that tell a story carry their facts as `extra` keys (inbound_id,
outbox_id, route, status, ...); the JSON format writes them as keys of one object per line,
the text format keeps the readable sentence they are also written into."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# What every LogRecord has: anything else on a record came from `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that narrate at INFO what is routine: aiosmtpd every SMTP command, alembic every
# migration step, APScheduler every job run ("Running job", "executed successfully"),
# flufl.bounce every detector it tries on a bounce.
CHATTY = ("mail.log", "alembic", "apscheduler", "flufl.bounce")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's
    `extra` keys, and `exception` (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Replace the root logger's handlers with one on stderr in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in CHATTY:
        # Their warnings still show; with POSTDESK_LOG_LEVEL=DEBUG, everything does.
        logging.getLogger(chatty).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
