"""search: adjacent word pairs of message bodies on PostgreSQL, so phrases are found
through an index

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 11:50:00

A GIN index on a tsvector knows which rows hold a word, not where: for a phrase PostgreSQL
reads the positions of every row holding all of its words, which for two common words is
most of the desk (seconds on a million messages). `search_pairs` keeps a 64-bit hash of
each adjacent pair of words (the same lexemes and positions as search_vector), indexed
with GIN; a phrase first narrows the candidates to rows holding all of its pairs. Longer
phrases and mixed queries are then checked exactly by the tsquery; a query of two-word
phrases only is answered by the pairs (a false match needs a 64-bit collision within
one message's ~30 pairs: about 1 in 10^17 per message). The hash is md5's first 64 bits,
which no PostgreSQL upgrade changes (the internal hashtext() may). The cost: the index is
about five times the word index (489 MB against 95 MB for a million 30-word messages),
since pairs are many and each is rare. SQLite's FTS5 keeps positions in its index:
nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAIRS_FUNCTION = """
CREATE OR REPLACE FUNCTION search_pairs(v tsvector) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(
    array_agg(DISTINCT ('x' || left(md5(a.lexeme || ' ' || b.lexeme), 16))::bit(64)::bigint),
    '{}')
  FROM (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS a
  JOIN (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS b
    ON b.p = a.p + 1
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PAIRS_FUNCTION)
    # The same text as search_vector's (migration 0011).
    op.execute(
        "ALTER TABLE ticket_messages ADD COLUMN search_pairs bigint[] GENERATED ALWAYS AS "
        "(search_pairs(to_tsvector('simple', left(coalesce(body_text, ''), 200000)))) STORED"
    )
    op.execute("CREATE INDEX ix_ticket_messages_pairs ON ticket_messages USING gin (search_pairs)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_ticket_messages_pairs")
    op.execute("ALTER TABLE ticket_messages DROP COLUMN IF EXISTS search_pairs")
    op.execute("DROP FUNCTION IF EXISTS search_pairs(tsvector)")
