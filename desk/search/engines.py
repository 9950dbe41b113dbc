"""The two engines behind one interface: for a source table, the ids of rows matching a
query with a rank (higher is better), and a highlighted snippet of one row's text.

Snippets mark matches with two rare characters, are HTML-escaped, and only then get their
<mark> tags: whatever the mail said, a snippet carries no markup but <mark>."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

from desk.search.cjk import SEPARATOR
from desk.search.syntax import for_postgres, fts5, pairs_only, required_phrases

OPEN, CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧
PAIRED = {"ticket_messages"}  # tables with a search_pairs column (PostgreSQL)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def restrict(
    session: AsyncSession,
    stmt: Select[Any],
    source: str,
    id_column: Any,
    query: str,
    *,
    few: bool = False,
) -> tuple[Select[Any], ColumnElement[float], ColumnElement[Any]]:
    """`stmt` (which selects from `source`'s mapped table) narrowed to the rows matching
    `query`; returns it with the rank expression and the column to order newest-first by.
    On SQLite the FTS5 table drives the join, so ORDER BY its rowid DESC LIMIT n stops
    after n matches instead of ranking them all."""
    if is_postgres(session):
        condition, rank = _postgres_match(source, query)
        return stmt.where(condition), rank, id_column
    fts = f"search_{source}"
    rowid = literal_column(f"{fts}.rowid", Integer)
    matching = literal_column(fts).op("MATCH")(bindparam(f"q_{source}", fts5(query)))
    if few:
        # `stmt` already selects a few rows (a customer's): the index is asked about those
        # rows only, in one lookup, instead of walking every match of a common word. FTS5
        # cannot compute bm25 for such a lookup, so these matches rank equal (newest first).
        own = stmt.with_only_columns(id_column)
        hits = select(rowid).select_from(table(fts)).where(matching, rowid.in_(own))
        return stmt.where(id_column.in_(hits)), literal(1.0, Float), id_column
    narrowed = stmt.join(table(fts), rowid == id_column).where(
        literal_column(fts).op("MATCH")(bindparam(f"q_{source}", fts5(query)))
    )
    return narrowed, -func.bm25(literal_column(fts)), rowid


def _postgres_match(source: str, query: str) -> tuple[ColumnElement[bool], ColumnElement[float]]:
    """The tsquery condition and its rank. Where the table keeps word pairs (message
    bodies), each required phrase first narrows the candidates to rows holding all of its
    adjacent pairs, through their GIN index; otherwise a phrase of two common words would
    have PostgreSQL read the positions of every row holding both words. A query of
    two-word phrases only is answered by the pairs alone, which also lets the planner
    know how many rows match (it cannot estimate a check of positions)."""
    vector = literal_column(f"{source}.search_vector", TSVECTOR)
    query = for_postgres(query)
    tsq = func.websearch_to_tsquery("simple", bindparam(f"q_{source}", query))
    phrases = required_phrases(query) if source in PAIRED else []
    if not phrases:
        return vector.op("@@")(tsq), func.ts_rank(vector, tsq)
    column = literal_column(f"{source}.search_pairs", ARRAY(BigInteger))
    hashes = [
        func.search_pairs(func.to_tsvector("simple", bindparam(f"p_{source}_{i}", phrase)))
        for i, phrase in enumerate(phrases)
    ]
    if pairs_only(query):
        return and_(*(column.op("@>")(h) for h in hashes)), func.ts_rank(vector, tsq)
    # A "phrase" the parser reads as one word (an address, a host name) has no pairs; the
    # word index must then find it. These CASEs are decided when the query is planned
    # (search connections always plan with the values), leaving only the indexable part.
    has_pairs = [func.cardinality(h) > 0 for h in hashes]
    narrowed = [
        case((has, column.op("@>")(h)), else_=true())
        for has, h in zip(has_pairs, hashes, strict=True)
    ]
    # The function form of @@ is checked on each candidate but never used to look rows up:
    # the word index would hand over every row holding the phrase's words, often most.
    check = case((or_(*has_pairs), func.ts_match_vq(vector, tsq)), else_=vector.op("@@")(tsq))
    return and_(*narrowed, check), func.ts_rank(vector, tsq)


def matches(session: AsyncSession, source: str, query: str) -> Select[int, float]:
    """SELECT id, rank of `source` rows matching `query`."""
    if is_postgres(session):
        condition, rank = _postgres_match(source, query)
        return (
            select(literal_column(f"{source}.id", Integer).label("id"), rank.label("rank"))
            .select_from(table(source))
            .where(condition)
        )
    fts = f"search_{source}"
    return (
        select(
            literal_column(f"{fts}.rowid", Integer).label("id"),
            (-func.bm25(literal_column(fts))).label("rank"),
        )
        .select_from(table(fts))
        .where(literal_column(fts).op("MATCH")(bindparam(f"q_{source}", fts5(query))))
    )


async def snippets(
    session: AsyncSession, source: str, column: str, ids: list[int], query: str
) -> dict[int, str]:
    """A highlighted passage of `column` for each of `ids` (a page's worth)."""
    if not ids:
        return {}
    if is_postgres(session):
        tsq = func.websearch_to_tsquery("simple", bindparam("q", for_postgres(query)))
        passage: ColumnElement[Any] = func.ts_headline(
            "simple",
            # The text as indexed (CJK characters apart), so that its words are found.
            func.search_text(func.left(literal_column(f"{source}.{column}"), 200_000)),
            tsq,
            f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords=30, MinWords=12, MaxFragments=2, "
            'FragmentDelimiter=" … "',
        )
        rows = await session.execute(
            select(literal_column(f"{source}.id"), passage)
            .select_from(table(source))
            .where(literal_column(f"{source}.id").in_(ids))
        )
    else:
        fts = f"search_{source}"
        position = {"subject": 0, "body_text": 0, "body": 0, "name": 0, "email": 1}[column]
        passage = func.snippet(literal_column(fts), position, OPEN, CLOSE, "…", 24)
        rows = await session.execute(
            select(literal_column(f"{fts}.rowid"), passage)
            .select_from(table(fts))
            .where(
                literal_column(fts).op("MATCH")(bindparam("q", fts5(query))),
                literal_column(f"{fts}.rowid").in_(ids),
            )
        )
    return {int(row_id): mark(str(found or "")) for row_id, found in rows}


def mark(passage: str) -> str:
    """The passage as HTML, its matches in <mark>. The separators between CJK characters
    (desk/search/cjk.py) go, and a word matched character by character is one mark."""
    passage = passage.replace(CLOSE + SEPARATOR + OPEN, "").replace(SEPARATOR, "")
    return html.escape(passage).replace(OPEN, "<mark>").replace(CLOSE, "</mark>")
