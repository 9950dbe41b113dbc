"""The new text of a reply, per language and mail client: every fixture in
tests/fixtures/replies/ exactly, and the guards (nothing stripped to empty, bounded work)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.replies import Fixture, load_fixtures
from desk.mail.quote_markers import MARKERS
from desk.mail.quotes import MAX_INPUT, new_text

FIXTURES = load_fixtures()
LANGUAGES = (
    "en de fr es pt it nl sv da no fi pl cs ru uk tr ja zh ko".split()  # issue 15's list
)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_new_text_is_exact(fixture: Fixture) -> None:
    assert new_text(fixture.body) == fixture.expected


def test_every_language_has_its_markers_and_fixtures() -> None:
    assert {m.language for m in MARKERS} >= set(LANGUAGES)
    for language in LANGUAGES:
        clients = {f.client.split("-")[0] for f in FIXTURES if f.language == language}
        assert {"gmail", "outlook", "ios", "thunderbird"} <= clients, language


def test_text_that_is_only_a_marker_is_kept_whole() -> None:
    assert new_text("Von meinem iPhone gesendet") == "Von meinem iPhone gesendet"
    assert new_text("-----Original Message-----\nFrom: a@b.example") == (
        "-----Original Message-----\nFrom: a@b.example"
    )
    assert new_text("  \n") == ""


def test_line_ends_do_not_matter() -> None:
    body = "Merci.\r\n\r\nLe 3 févr. 2025 à 10:00, S <s@example.test> a écrit :\r\n> Bonjour"
    assert new_text(body) == "Merci."


def test_huge_input_is_bounded() -> None:
    body = "Thanks.\n" + "x" * (MAX_INPUT * 3)
    assert new_text(body) == "Thanks.\n" + "x" * (MAX_INPUT - len("Thanks.\n"))


@settings(max_examples=200, deadline=2000)
@given(
    st.lists(
        st.sampled_from(
            [
                "",
                "> quoted",
                "On Mon, 3 Feb 2025 at 10:00, S <s@example.test> wrote:",
                "From: S <s@example.test>",
                "Sent: Monday",
                "To: a@example.com",
                "Subject: x",
                "-----Original Message-----",
                "Sent from my iPhone",
                "-- ",
                "text",
                " " * 500 + ":",
            ]
        )
        | st.text(max_size=80),
        max_size=60,
    )
)
def test_never_fails_and_keeps_the_sender_words(lines: list[str]) -> None:
    body = "\n".join(lines)
    result = new_text(body)
    assert result == result.strip()
    assert bool(result) == bool(body.strip())
    assert result in body.replace("\r\n", "\n").replace("\r", "\n") or result == body.strip()
