"""Quote-stripping benchmark: every reply fixture in tests/fixtures/replies/ (one file per
language, one section per mail client) through desk.mail.quotes.new_text, and the share
whose new text is exactly the expected one, per language, per client and in total.

    python -m bench.replies              # the table (Markdown)
    python -m bench.replies --failures   # and each fixture that does not match, as a diff
"""

from __future__ import annotations

import argparse
import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from desk.mail.quotes import new_text

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replies"


@dataclass(frozen=True)
class Fixture:
    language: str
    client: str
    body: str
    expected: str

    @property
    def name(self) -> str:
        return f"{self.language}/{self.client}"


def load_fixtures(folder: Path = FIXTURES) -> list[Fixture]:
    """Every fixture: `=== <client>` opens a body, `=== expected` its expected new text."""
    found: list[Fixture] = []
    for path in sorted(folder.glob("*.txt")):
        found.extend(_sections(path.stem, path.read_text(encoding="utf-8").split("\n")))
    return found


def _sections(language: str, lines: list[str]) -> Iterable[Fixture]:
    client, body, current = "", [], list[str]()
    for line in [*lines, "=== end"]:
        if not line.startswith("=== "):
            current.append(line)
            continue
        name = line[4:].strip()
        if name == "expected":
            body, current = current, []
            continue
        if client:
            yield Fixture(language, client, "\n".join(body), "\n".join(current).strip("\n"))
        client, current = name, []


def _shares(results: list[tuple[Fixture, bool]], key: str) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fixture, ok in results:
        group = getattr(fixture, key).split("-")[0] if key == "client" else fixture.language
        counts[group][0] += ok
        counts[group][1] += 1
    return {name: (right, total) for name, (right, total) in sorted(counts.items())}


def _table(title: str, shares: dict[str, tuple[int, int]]) -> str:
    rows = [f"| {title} | exact | share |", "|---|---|---|"]
    for name, (right, total) in shares.items():
        rows.append(f"| {name} | {right}/{total} | {100 * right / total:.1f}% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--failures", action="store_true", help="show each mismatch")
    args = parser.parse_args()
    results = [(f, new_text(f.body) == f.expected) for f in load_fixtures()]
    print(_table("language", _shares(results, "language")), end="\n\n")
    print(_table("client", _shares(results, "client")), end="\n\n")
    right = sum(ok for _, ok in results)
    print(f"total: {right}/{len(results)} exact ({100 * right / len(results):.1f}%)")
    for fixture, ok in results if args.failures else []:
        if not ok:
            diff = difflib.unified_diff(
                fixture.expected.split("\n"), new_text(fixture.body).split("\n"), lineterm=""
            )
            print(f"\n--- {fixture.name}\n" + "\n".join(diff))


if __name__ == "__main__":
    main()
