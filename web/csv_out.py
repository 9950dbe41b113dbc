"""CSV answers: the analytics tables (whole) and the exports (streamed, chunk by chunk).

UTF-8, comma-separated, CRLF line ends (RFC 4180), a header row first. No byte order mark
unless asked (`bom=true` on the exports: Excel needs it to read UTF-8; scripts and other
tools do not, and some would take it as part of the first column's name).

Cells a spreadsheet would take as a formula (text starting with `=`, `+`, `-`, `@`, or a
tab or carriage return, OWASP's list) get a leading apostrophe, so a customer's subject
such as `=HYPERLINK(...)` shows as text instead of running. Numbers are written as they
are (a negative number is not text)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from desk.exports import Export

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def cell(value: Any) -> Any:
    """One cell as written: empty for None, text that could run as a formula defused."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def lines(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()


def _headers(name: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{name}.csv"',
        "X-Content-Type-Options": "nosniff",
    }


def csv_response(columns: Sequence[str], rows: Sequence[Sequence[Any]], name: str) -> web.Response:
    """A table small enough to answer at once (the analytics)."""
    return web.Response(
        text=lines([columns, *rows]),
        content_type="text/csv",
        charset="utf-8",
        headers=_headers(name),
    )


async def stream_csv(
    request: web.Request, table: Export, name: str, *, bom: bool = False
) -> web.StreamResponse:
    """The export sent as it is read, chunk by chunk (chunked transfer encoding). Every
    check has run before this is called: once the header row is out, the status is 200."""
    response = web.StreamResponse(headers=_headers(name))
    response.content_type = "text/csv"
    response.charset = "utf-8"
    await response.prepare(request)
    await response.write(((BOM if bom else "") + lines([table.columns])).encode())
    async for chunk in table.chunks:
        if chunk:
            await response.write(lines(chunk).encode())
    await response.write_eof()
    return response
