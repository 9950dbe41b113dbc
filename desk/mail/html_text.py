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


def sanitize(html: str) -> str:
    """Safe to show in the agent's browser (as stored since the first version): scripts,
    event handlers and `javascript:` links gone."""
    return nh3.clean(html, url_schemes=HTML_SCHEMES, clean_content_tags=_DROPPED_WITH_CONTENT)


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
