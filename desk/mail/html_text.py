"""Sanitized mail HTML to the text an agent reads and search indexes: paragraphs, line
breaks, list items and link targets kept; head, title, style and script dropped (they are
removed with their content by the sanitizer first, see `sanitize`)."""

from __future__ import annotations

import re
import textwrap

import nh3
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

HTML_SCHEMES = {"http", "https", "mailto", "cid"}
# Removed with everything inside: never shown, never part of the text.
_DROPPED_WITH_CONTENT = {"script", "style", "title", "head"}
_CONFIG = ParserConfig(display_links=True)
_SAME_LINK = re.compile(r"\[([^\[\]\n]{1,2000})\]\(\1\)")
_BLANK_LINES = re.compile(r"\n{3,}")
# Deeper than browsers build (Blink's and WebKit's HTML parsers stop nesting at 512): the
# sanitizer's parser (html5ever, native code the CPU budget's signal cannot interrupt) takes
# time quadratic in the depth of nested blocks, 1 MB of `<div>` about a minute.
MAX_HTML_DEPTH = 512
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*?(/?)>")  # [^<>]: linear on `<<<<`
# Elements that never hold others open: void ones, and those the next of their kind closes.
_NOT_NESTED = {
    *("area base br col embed hr img input link meta source track wbr".split()),
    *("p li dt dd tr td th option optgroup rb rt rp rtc tbody thead tfoot colgroup".split()),
}


def sanitize(html: str) -> str:
    """Safe to show in the agent's browser (as stored since the first version): scripts,
    event handlers and `javascript:` links gone."""
    return nh3.clean(html, url_schemes=HTML_SCHEMES, clean_content_tags=_DROPPED_WITH_CONTENT)


def too_deep(html: str) -> bool:
    """Whether the HTML nests elements deeper than MAX_HTML_DEPTH, by one linear pass
    over its tags (an upper bound: a missing end tag counts as still open)."""
    depth = 0
    for tag in _TAG.finditer(html):
        if tag[2].lower() in _NOT_NESTED or tag[3]:
            continue
        depth = max(0, depth - 1) if tag[1] else depth + 1
        if depth > MAX_HTML_DEPTH:
            return True
    return False


def html_to_text(clean_html: str) -> str:
    """Text of already sanitized HTML (inscriptis renders block layout like a browser's
    text view). Links show their target as `[text](url)`; a link whose text is its own
    address shows it once."""
    if not clean_html.strip():
        return ""
    text = get_text(clean_html, _CONFIG)
    text = _SAME_LINK.sub(r"\1", text)
    lines = [line.rstrip() for line in textwrap.dedent(text).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
