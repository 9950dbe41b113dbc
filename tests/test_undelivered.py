"""What the conversation page says under a reply the relay has not taken
(desk.tickets.conversation.undelivered), for each state an outbox row can be in."""

from __future__ import annotations

import pytest

from desk.models import OutboxMail, OutboxState
from desk.tickets.conversation import undelivered


def _queued(state: OutboxState, attempts: int = 0, error: str | None = None) -> OutboxMail:
    return OutboxMail(state=state.value, attempts=attempts, last_error=error)


@pytest.mark.parametrize(
    ("queued", "said"),
    [
        (_queued(OutboxState.SENT, 1), ""),
        (_queued(OutboxState.PENDING), ""),  # waiting for its first try
        (_queued(OutboxState.SENDING, 1), ""),
        (
            _queued(OutboxState.PENDING, 2, "451 4.3.0 try later"),
            "Not sent yet, trying again: 451 4.3.0 try later.",
        ),
        (
            _queued(OutboxState.FAILED, 1, "550 5.1.1 no such user"),
            "Not delivered: 550 5.1.1 no such user.",
        ),
        (_queued(OutboxState.FAILED, 0), "Not delivered: the relay refused it."),
        (
            _queued(OutboxState.SUPPRESSED),
            "Not sent: the address is suppressed after a bounce or complaint.",
        ),
    ],
)
def test_each_outbox_state_in_words(queued: OutboxMail, said: str) -> None:
    assert undelivered(queued) == said
