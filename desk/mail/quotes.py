"""The new text of a reply: what its sender wrote, without the quoted history below it and
without a mobile or `-- ` signature. Intake stores it beside the full text (parse.py).

Our own marker table (desk/mail/quote_markers.py, one entry per language) finds where the
history starts: the attribution line mail clients write over a quote (Gmail, Apple Mail,
Thunderbird, Outlook mobile), Outlook's localized `From:/Sent:/To:/Subject:` block, the
`-----Original Message-----` and forwarded-message separators, and a trailing `>`-quoted
block. mail-parser-reply then looks at what is left for the markers it knows and we do not.

Safety: the input is cut to `MAX_INPUT` characters, only lines under `MAX_MARKER_LINE`
characters are tested against a pattern, and the patterns have no nested quantifiers (at
most two bounded wildcards between literals). If nothing would be left, the whole text is
the new text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from mailparser_reply import EmailReplyParser

from desk.mail.quote_markers import MARKERS

MAX_INPUT = 100_000  # characters; quoted history past this is moot
MAX_MARKER_LINE = 400  # characters; no marker line is longer (wrapped ones are joined)
_WRAPPED_LINES = 3  # Gmail and Outlook wrap a long attribution over up to three lines
_HEADER_WINDOW = 8  # lines after `From:` in which Outlook's other labels must appear
_SIGNATURE_LINES = 15  # at most this many lines below `-- ` are taken for a signature
_LIBRARY_LIMITS = (20_000, 400, 1_000)  # characters, lines, characters per line


# mail-parser-reply's own language tables, used on what our markers left (see _library_cut).
# Polish is left out: its Outlook rule takes a single `Data:` or `Do:` line for a header.
LIBRARY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "cs", "da", "ja", "zh", "ko")
_LIBRARY = EmailReplyParser(languages=list(LIBRARY_LANGUAGES))


_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_COLON = re.compile(r" (?=[:：])")


def _plain(line: str) -> str:
    """A line as markers are matched: quote marks, bold stars and spacing normalized."""
    line = line.lstrip(" >\t").strip().strip("*").replace("\u00a0", " ").replace("\u202f", " ")
    return _SPACE_BEFORE_COLON.sub("", _SPACES.sub(" ", line)).replace("：", ":")


def _pattern(phrases: Iterable[str], wildcard: str = ".{1,300}") -> re.Pattern[str]:
    """One alternation of whole-line phrases, `…` as a bounded wildcard (at most two a
    phrase, never nested: matching a line costs at most its length times the bound)."""
    phrases = set(phrases)
    assert all(p.count("…") <= 2 for p in phrases), "a marker with three wildcards"
    parts = sorted((re.escape(p).replace("…", wildcard) for p in phrases), key=len, reverse=True)
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(_plain(w).casefold().rstrip(":") for w in words)


_WROTE = _pattern(w.replace(" :", ":") for m in MARKERS for w in m.wrote)
# Attributions that open with a fixed word (`On …`, `Am …`): only these may take in a
# wrapped line above, so that `Thanks` over `On … wrote:` stays the customer's.
_WROTE_OPENING = _pattern(w.replace(" :", ":") for m in MARKERS for w in m.wrote if w[0] != "…")
_SENT_FROM = _pattern((s for m in MARKERS for s in m.sent_from), wildcard=".{1,40}")
_FROM_LABELS = _folded(label for m in MARKERS for label in m.from_labels)
_LABELS = _folded(label for m in MARKERS for label in m.labels) | _FROM_LABELS
_SEPARATORS = _folded(s for m in MARKERS for s in m.separators)
_LABEL = re.compile(r"[*\s]{0,3}([^\W\d_][^:：*]{0,24}?)[ \t\u00a0*]{0,3}[:：]")
_LINK = re.compile(r"<https?://[^<>\s]{1,200}>")
_RULE = re.compile(r"[-_=*~ ]{3,120}")  # a line of dashes or underscores around a block


def new_text(text: str) -> str:
    """The reply's own words: `text` (a mail's plain text, any line ends) cut where quoted
    history starts, without a trailing mobile or `-- ` signature, stripped. Bottom-posted
    replies give the text below the quote. If nothing would be left, the whole text."""
    lines = text[:MAX_INPUT].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head = lines[: _history_start(lines)]
    cut = _library_cut(head)
    own = _without_signature(head[:cut] if cut else head)
    result = "\n".join(own).strip() or "\n".join(_below_quote(lines)).strip()
    return result or text.strip()


def _history_start(lines: Sequence[str]) -> int:
    """The index of the first line of quoted history, `len(lines)` if there is none."""
    tail = _quoted_tail(lines)
    for i, line in enumerate(lines[:tail]):
        if len(line) > MAX_MARKER_LINE or not line.strip():
            continue
        if _is_separator(line) or _opens_header_block(lines, i):
            return _with_rule_above(lines, i)
        opening = _attribution_start(lines, i)
        if opening is not None and _quote_follows(lines, i + 1):
            return opening
    if tail < len(lines):
        return _with_attribution_above(lines, tail)
    return len(lines)


def _quoted_tail(lines: Sequence[str]) -> int:
    """Where a block of `>`-quoted lines (blank lines allowed) that runs to the end starts."""
    start = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        if _is_quoted(lines[i]):
            start = i
        elif lines[i].strip():
            break
    return start


def _is_quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _is_separator(line: str) -> bool:
    core = _plain(line).strip("-_=*~ ").casefold()
    return core.rstrip(":") in _SEPARATORS or core in _SEPARATORS


def _attribution_start(lines: Sequence[str], end: int) -> int | None:
    """Where an attribution (`On … wrote:`) ending on line `end` starts: it may be wrapped
    over up to three lines, and must name a date or an address (a customer's own
    `… wrote:` in a sentence has neither)."""
    if not _plain(lines[end]).endswith(":"):
        return None
    found: int | None = None
    joined = ""
    for i in range(end, max(end - _WRAPPED_LINES, -1), -1):
        if len(lines[i]) > MAX_MARKER_LINE or not lines[i].strip():
            break
        joined = f"{_plain(lines[i])} {joined}".strip()
        pattern = _WROTE if found is None else _WROTE_OPENING
        if _names_date_or_address(joined) and pattern.fullmatch(joined):
            found = i
    return found


def _quote_follows(lines: Sequence[str], i: int) -> bool:
    """Clients put a blank or quoted line (or nothing) under their attribution; a customer's
    `In my mail of 3 March I wrote:` goes on with what they wrote."""
    return i >= len(lines) or not lines[i].strip() or _is_quoted(lines[i])


def _names_date_or_address(line: str) -> bool:
    return "@" in line or any(c.isdigit() for c in line)


def _label(line: str) -> str | None:
    if len(line) > MAX_MARKER_LINE:
        return None
    found = _LABEL.match(_plain(line))
    return found.group(1).strip().casefold() if found else None


def _opens_header_block(lines: Sequence[str], i: int) -> bool:
    """Outlook's `From:` line followed by more of its labels (`Sent:`, `To:`, …) in any of
    the table's languages within the next few lines."""
    if _label(lines[i]) not in _FROM_LABELS:
        return False
    window = lines[i + 1 : i + 1 + _HEADER_WINDOW]
    labels = sum(1 for line in window if _label(line) in _LABELS)
    # Three labels, or two and an address: a customer's `From: Berlin / To: Munich / Date:
    # 3 March` is a trip, not a header (Outlook writes From, Sent, To and Subject).
    return labels >= 3 or (labels == 2 and any("@" in line for line in [lines[i], *window]))


def _with_rule_above(lines: Sequence[str], i: int) -> int:
    """Include the `____` or `-----` rule Outlook and Samsung draw over the block."""
    above = _previous_text_line(lines, i)
    if above is not None and _RULE.fullmatch(_plain(lines[above])) is not None:
        return above
    return i


def _with_attribution_above(lines: Sequence[str], tail: int) -> int:
    """A trailing quote's own attribution line, in any language: the line (or wrapped
    lines) just above it, ending in a colon and naming a date or address."""
    start = tail
    for _ in range(_WRAPPED_LINES):
        above = _previous_text_line(lines, start)
        if above is None or len(lines[above]) > MAX_MARKER_LINE:
            break
        joined = " ".join(_plain(line) for line in lines[above:tail] if line.strip())
        if joined.endswith(":") and (_names_date_or_address(joined) or _WROTE.fullmatch(joined)):
            return above
        start = above
    return tail


def _previous_text_line(lines: Sequence[str], i: int) -> int | None:
    for j in range(i - 1, -1, -1):
        if lines[j].strip():
            return j
    return None


def _without_signature(lines: Sequence[str]) -> list[str]:
    """Drop a `-- ` signature (RFC 3676 4.3) of a few lines and trailing mobile signatures
    (`Sent from my iPhone`, `Von meinem iPhone gesendet`, `Get Outlook for iOS`)."""
    end = len(lines)
    for i in range(end - 1, max(end - _SIGNATURE_LINES - 2, 0), -1):
        if lines[i].rstrip() == "--":
            end = i
            break
    while end and (not lines[end - 1].strip() or _is_sent_from(lines[end - 1])):
        end -= 1
    return list(lines[:end])


def _is_sent_from(line: str) -> bool:
    plain = _plain(line)
    if len(line) > MAX_MARKER_LINE or len(plain) > 120:
        return False
    plain = _LINK.sub("", plain).strip().rstrip(".")  # `Get Outlook for iOS<https://…>`
    return _SENT_FROM.fullmatch(plain) is not None


def _below_quote(lines: Sequence[str]) -> list[str]:
    """A bottom-posted reply: an attribution and a `>`-quoted block first, the new text
    after it (and no further quote)."""
    quote = next((i for i, line in enumerate(lines) if _is_quoted(line)), len(lines))
    if quote == len(lines):
        return []
    above = _previous_text_line(lines, quote)
    if above is not None:
        start = _attribution_start(lines, above)
        if start is None or any(line.strip() for line in lines[:start]):
            return []
    i = quote
    while i < len(lines) and (_is_quoted(lines[i]) or not lines[i].strip()):
        i += 1
    rest = list(lines[i:])
    if any(_is_quoted(line) for line in rest):
        return []
    return _without_signature(rest)


def _library_cut(head: Sequence[str]) -> int | None:
    """Where mail-parser-reply finds a reply header in `head` that our table did not,
    as a line index; None when it finds none (or the text is past its safe size)."""
    text = "\n".join(head)
    chars, count, width = _LIBRARY_LIMITS
    if len(text) > chars or len(head) > count or any(len(line) > width for line in head):
        return None  # its patterns backtrack on long input (overlapping quantifiers)
    if not any(_may_be_library_marker(line) for line in head):
        return None  # it costs most of intake's parsing time: only where it may find one
    try:
        reply = _LIBRARY.parse_reply(text)
    except Exception:  # a library bug must not fail the mail: our cut stands
        return None
    return _line_count_of(head, reply or "")


def _may_be_library_marker(line: str) -> bool:
    """Every mail-parser-reply header is a line that ends in a colon (`… wrote:`), starts
    with a label (`From:`) or names an original message (`-----Original Message-----`)."""
    plain = _plain(line)
    return plain.endswith(":") or _LABEL.match(plain) is not None or "original" in plain.lower()


def _line_count_of(head: Sequence[str], reply: str) -> int | None:
    """The number of lines of `head` the library's reply spans (it strips every line), if
    what it leaves out looks like history: it takes two `From:`/`To:`-like lines in a
    customer's own words for a header, while a real one names an address."""
    stripped = [line.strip() for line in head]
    first = next((i for i, line in enumerate(stripped) if line), None)
    if first is None or not reply:
        return None
    end = first + reply.count("\n") + 1
    if "\n".join(stripped[first:end]).strip() != reply or end >= len(head):
        return None
    rest = [line for line in stripped[end:] if line]
    if len(rest) < 3 or not any("@" in line for line in rest[:4]):
        return None
    return end
