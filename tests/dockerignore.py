"""What `docker build` sends as its context, as .dockerignore filters it, without a Docker
engine: Docker's rules (moby's patternmatcher), for checking in tests what can end up in the
image. Patterns are relative to the context root (no implicit leading `**/`: `*.env` is
the root's only), cleaned of leading and trailing slashes; `*` and `?` never cross a `/`,
`**` matches any number of folders; a pattern matching a folder excludes what is inside;
`!` re-includes; the last matching pattern wins."""

from __future__ import annotations

import os
import re
from pathlib import Path


def patterns(dockerignore: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per line, in order; comments and blank lines skipped."""
    found = []
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).strip("/")
        found.append((not include, re.compile(_regex(pattern))))
    return found


def _regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "[":
            end = pattern.index("]", i)
            out, i = out + "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(c), i + 1
    return f"^{out}$"


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `path` (relative, with `/`) stays out of the context: a rule matching the
    path or a folder above it decides, the last such rule winning."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for excludes, regex in rules:
        if any(regex.match(p) for p in prefixes):
            verdict = excludes
    return verdict


def build_context(root: Path) -> list[str]:
    """Every file `docker build root` would send, relative to root."""
    rules = patterns((root / ".dockerignore").read_text())
    return sorted(
        rel
        for path in root.rglob("*")
        if path.is_file() and not excluded(rel := path.relative_to(root).as_posix(), rules)
    )
