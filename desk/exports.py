"""Exports (CSV, desk/tickets/export.py and desk/time_entries.py): the rows a person may
see, read in short transactions so a long download holds no database connection.

The matching ids are read first, in the export's order, in one query (at most MAX_ROWS:
more is refused before anything is sent, so the client gets a proper error); then the rows
are read CHUNK ids at a time, each chunk checked against the access rule again, and handed
out as they come. A row deleted or hidden from the reader meanwhile is left out; a row
changed meanwhile is exported as it is when its chunk is read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from desk.db import Database
from desk.errors import ValidationFailed

MAX_ROWS = 100_000
CHUNK = 500

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Export:
    """A table to send: its header and its rows, chunk by chunk."""

    columns: tuple[str, ...]
    chunks: AsyncIterator[list[Row]]


async def export(
    db: Database,
    ids: Select[Any],
    columns: tuple[str, ...],
    rows_of: Callable[[Sequence[int]], Select[Any]],
    shape: Callable[[Any], Row],
) -> Export:
    """`ids`: the matching ids in order; `rows_of(chunk)`: the rows of those ids the reader
    may see (any order; `shape` turns one into the export's cells, its first the id).
    ValidationFailed if more than MAX_ROWS match."""
    async with db.reader() as session:
        found = list(await session.scalars(ids.limit(MAX_ROWS + 1)))
    if len(found) > MAX_ROWS:
        raise ValidationFailed(
            f"more than {MAX_ROWS} rows match; narrow the filters", field="query"
        )
    return Export(columns, _chunks(db, found, rows_of, shape))


async def _chunks(
    db: Database,
    ids: list[int],
    rows_of: Callable[[Sequence[int]], Select[Any]],
    shape: Callable[[Any], Row],
) -> AsyncIterator[list[Row]]:
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        async with db.reader() as session:
            rows = [shape(r) for r in (await session.execute(rows_of(chunk))).all()]
        by_id = {r[0]: r for r in rows}
        yield [by_id[i] for i in chunk if i in by_id]
