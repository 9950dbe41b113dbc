"""What the web side tells operators: the access log and HTTP metrics (one middleware, the
outermost, so it sees the answer the error middleware made), GET /metrics, and a quiet
line instead of a traceback for a client's malformed request."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from desk.metrics import CONTENT_TYPE
from web.auth import Handler
from web.keys import DESK

access_log = logging.getLogger("web.access")
# aiohttp's request handler logs here (passed as the runner's `logger`); see client_errors.
server_log = logging.getLogger("web.server.protocol")
UNMATCHED = "(unmatched)"  # the route label of a path no route matches: never the raw path


def route_of(request: web.Request) -> str:
    """The matched route's pattern (/api/tickets/{id}/): a label with a bounded number of
    values, and no ids, tokens or query strings in it."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One access-log line and the HTTP metrics per request: method, route pattern, status,
    duration. Neither the path nor the query string (which may carry a token) is logged,
    nor any body. A WebSocket is counted open for as long as its handler runs."""
    metrics = request.app[DESK].metrics
    started = time.perf_counter()
    socket = request.headers.get("Upgrade", "").lower() == "websocket"
    if socket:
        metrics.websockets_open.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like that pass the error middleware
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's convention)
        raise
    finally:
        if socket:
            metrics.websockets_open.dec()
        _record(request, status, time.perf_counter() - started)


def _record(request: web.Request, status: int, seconds: float) -> None:
    metrics = request.app[DESK].metrics
    route, method = route_of(request), request.method
    metrics.http_requests.labels(route, method, str(status)).inc()
    metrics.http_seconds.labels(route, method).observe(seconds)
    ms = round(seconds * 1000, 1)
    fields = {"method": method, "route": route, "status": status, "duration_ms": ms}
    access_log.info("%s %s %s %.1fms", method, route, status, ms, extra=fields)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """The process's metrics in the Prometheus text format, the database backlog read now."""
    metrics = request.app[DESK].metrics
    await metrics.refresh(request.app[DESK].db)
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


def client_errors(record: logging.LogRecord) -> bool:
    """A logging filter for aiohttp's request handler: a request it cannot parse (bad
    request line, header or chunk: HttpProcessingError with a 4xx code) is the client's
    mistake, so it becomes one WARNING line, not an ERROR with a traceback."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
        client = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        reason = " ".join(str(exc.message).split())[:200]  # one line, however aiohttp put it
        record.msg, record.args = "malformed HTTP request from %s: %s", (client, reason)
        record.exc_info, record.exc_text = None, None
        record.__dict__.update(client=client, status=exc.code or 400)
    return True
