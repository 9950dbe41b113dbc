"""The query language is PostgreSQL's websearch_to_tsquery: words (all must match),
"quoted phrases", `OR` between words, `-word` to exclude. PostgreSQL reads it itself; for
SQLite it is translated here into an FTS5 expression with the same meaning (every term
quoted, so nothing in a query is taken as FTS5 syntax)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from desk.errors import ValidationFailed
from desk.search.cjk import has_cjk, search_text

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    text: str  # its words, space-separated
    negated: bool
    typed: str  # as the user typed it: PostgreSQL's parser reads this one


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
        # A CJK word is the phrase of its characters, as they are indexed (cjk.py).
        words = " ".join(_WORD.findall(search_text(phrase) or ""))
        if words:
            out.append(Term(words, bool(minus), (phrase or "").strip()))
    return out


def for_postgres(query: str) -> str:
    """The query as PostgreSQL's websearch_to_tsquery is to read it: a word or phrase with
    CJK characters quoted, a SEPARATOR between them (desk/search/cjk.py), so that it is
    the phrase of its characters; everything else as typed."""

    def one(match: re.Match[str]) -> str:
        minus, phrase, bare = match.groups()
        if bare is not None:
            if not has_cjk(bare):
                return bare
            minus, phrase = ("-", bare[1:]) if bare.startswith("-") else ("", bare)
        elif not has_cjk(phrase):
            return match.group(0)
        return f'{minus}"{search_text(phrase.replace(chr(34), " "))}"'

    return _TOKEN.sub(one, query)


def check(query: str) -> str:
    query = query.strip()
    if not any(isinstance(t, Term) and not t.negated for t in terms(query)):
        raise ValidationFailed("search for at least one word", field="q")
    return query


def _groups(query: str) -> tuple[list[list[Term]], list[Term]]:
    """Required groups (each matches when any of its terms does) and excluded terms, with
    websearch's precedence: OR binds tighter than the implicit AND."""
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False
    for item in terms(query):
        if item == "OR":
            joining = bool(groups)
            continue
        assert isinstance(item, Term)
        if item.negated:
            excluded.append(item)
        elif joining:
            groups[-1].append(item)
        else:
            groups.append([item])
        joining = False
    return groups, excluded


def fts5(query: str) -> str:
    """(a) AND (b OR c) NOT (d)."""
    groups, excluded = _groups(query)

    def quoted(term: Term) -> str:
        return '"' + term.text.replace('"', '""') + '"'

    expression = " AND ".join("(" + " OR ".join(map(quoted, g)) + ")" for g in groups)
    for term in excluded:
        expression += f" NOT {quoted(term)}"
    return expression


def required_phrases(query: str) -> list[str]:
    """Phrases of two or more words that every match must contain (not OR-ed, not
    excluded): PostgreSQL finds their candidates by word pairs before checking positions."""
    groups, _ = _groups(query)
    # As typed, not as words: "my e-mail" is my, e-mail, e, mail to PostgreSQL's parser.
    return [g[0].typed for g in groups if len(g) == 1 and " " in g[0].text]


_PAIRS_ONLY = re.compile(r'\s*(?:"\s*[A-Za-z0-9]+\s+[A-Za-z0-9]+\s*"\s*)+')


def pairs_only(query: str) -> bool:
    """Nothing but phrases of two plain words (ASCII letters and digits, which every
    parser and database locale takes as one word each): such a query matches exactly the
    rows holding those word pairs, and needs no check of positions."""
    return _PAIRS_ONLY.fullmatch(query) is not None


def contradictory(query: str) -> bool:
    """A required word or phrase that is also excluded (`refund -refund`): nothing can
    match, and an engine would read every row containing it to find that out."""
    groups, excluded = _groups(query)
    required = {g[0].text.casefold() for g in groups if len(g) == 1}
    return any(term.text.casefold() in required for term in excluded)
