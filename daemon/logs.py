"""How the daemon's log looks (POSTDESK_LOG_FORMAT, POSTDESK_LOG_LEVEL): set up once by the
command line. Lines that tell a story carry their facts as `extra` keys (inbound_id,
outbox_id, route, status, ...); the JSON format writes them as keys of one object per line,
the text format keeps the readable sentence they are also written into."""

from __future__ import annotations

import json
import logging
import re
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


# Credentials that reach a message anyway (a client's malformed request line or an
# over-long header quoted by aiohttp, a library's error text): the key is kept, the value
# goes. Query tokens (token=, access_token=), bearer tokens, X-Api-Key values, our API keys
# (pdk_...) and anything shaped like a JWT.
SECRETS = (
    (re.compile(r"(token=)[^&\s'\"\\]+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[^\s'\",\\]+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"(X-Api-Key[\"']?\s*[:=]\s*[\"']?)[^\s'\",\\]+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"\bpdk_[A-Za-z0-9_\-]+"), "pdk_[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}(\.[A-Za-z0-9_\-]*){0,2}"), "[redacted]"),
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with every credential value of SECRETS replaced by [redacted]."""
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


def redact_secrets(record: logging.LogRecord) -> bool:
    """A handler filter: the record's message (with its args filled in) redacted. The
    record is rewritten only when something was found, so ordinary lines keep their args."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a bad format string: logging reports it itself
        return True
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    return True


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


def log_handler(stream: Any, log_format: str = "text") -> logging.Handler:
    """The daemon's handler: `stream` in `log_format`, secrets redacted (redact_secrets is
    a handler filter so that it sees every logger's records, propagated ones too)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(redact_secrets)
    return handler


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Replace the root logger's handlers with one on stderr in `log_format`."""
    handler = log_handler(sys.stderr, log_format)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in CHATTY:
        # Their warnings still show; with POSTDESK_LOG_LEVEL=DEBUG, everything does.
        logging.getLogger(chatty).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
