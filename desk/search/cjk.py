"""Chinese, Japanese and Korean text as both search engines can find words inside it.

These scripts run words together without spaces, and both engines' word splitters (FTS5's
unicode61, PostgreSQL's 'simple' parser) take a whole run of such characters as one word:
`請求書` was found only as the whole run `請求書の件で`, never inside it. So the text is
indexed with each CJK character as a word of its own (a zero-width space between two CJK
characters: neither engine counts it as part of a word, and it shows as nothing), and a
CJK word in a query is searched as the phrase of its characters. Any word is then found
wherever it stands in a run, as in the unigram indexing of CJK analyzers.

The same rule runs in three places and must stay the same: here (queries, and SQLite's
index through the `search_text` SQL function registered on every connection,
desk/db.py), and in PostgreSQL's `search_text()` (migration 0024), where the character
class is written out again.
"""

from __future__ import annotations

import re

SEPARATOR = "\u200b"  # ZERO WIDTH SPACE: a word boundary to both engines, invisible
# Hiragana, Katakana, CJK ideographs (with extension A, compatibility, and the planes of
# the rarer ones), Hangul syllables, half-width Katakana, and U+3005-U+3007 (々, 〆, and
# the ideographic zero).
CJK_CLASS = (
    "\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0002fa1f"
)
_RUN = re.compile(f"[{CJK_CLASS}]{{2,}}")
_ANY = re.compile(f"[{CJK_CLASS}]")


def search_text(text: str | None) -> str | None:
    """`text` as it is indexed: a SEPARATOR between every two adjacent CJK characters
    (other text unchanged; None stays None, as SQL's NULL)."""
    if text is None or text.isascii():  # most mail: nothing to look for
        return text
    return _RUN.sub(lambda run: SEPARATOR.join(run.group()), text)


def has_cjk(text: str) -> bool:
    return _ANY.search(text) is not None
