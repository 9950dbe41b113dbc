"""The query language is PostgreSQL's websearch_to_tsquery: words (all must match),
"quoted phrases", `OR` between words, `-word` to exclude. PostgreSQL reads it itself; for
SQLite it is translated here into an FTS5 expression with the same meaning (every term
quoted, so nothing in a query is taken as FTS5 syntax)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from desk.errors import ValidationFailed

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    text: str
    negated: bool


def terms(query: str) -> list[Term | str]:
    """Terms in order, with the string "OR" between those it joins."""
    out: list[Term | str] = []
    for match in _TOKEN.finditer(query):
        minus, phrase, bare = match.groups()
        if bare is not None:
            if bare.upper() == "OR":
                out.append("OR")
                continue
            minus, phrase = ("-", bare[1:]) if bare.startswith("-") else ("", bare)
        words = " ".join(_WORD.findall(phrase or ""))
        if words:
            out.append(Term(words, bool(minus)))
    return out


def check(query: str) -> str:
    query = query.strip()
    if not any(isinstance(t, Term) and not t.negated for t in terms(query)):
        raise ValidationFailed("search for at least one word", field="q")
    return query


def fts5(query: str) -> str:
    """(a) AND (b OR c) NOT (d): websearch's precedence, where OR binds tighter than AND."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    joining = False
    for item in terms(query):
        if item == "OR":
            joining = bool(groups)
            continue
        assert isinstance(item, Term)
        quoted = '"' + item.text.replace('"', '""') + '"'
        if item.negated:
            excluded.append(quoted)
        elif joining:
            groups[-1].append(quoted)
        else:
            groups.append([quoted])
        joining = False
    expression = " AND ".join("(" + " OR ".join(g) + ")" for g in groups)
    for quoted in excluded:
        expression += f" NOT {quoted}"
    return expression
