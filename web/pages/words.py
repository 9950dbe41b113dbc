"""Words the pages share: how a mail's threading rule reads to a person."""

from __future__ import annotations

# Why a mail landed on its ticket, as desk.mail.threading records the rule.
THREAD_RULES = {
    "in-reply-to": "it answers a mail of this ticket (In-Reply-To)",
    "references": "its References name a mail of this ticket",
    "reply-token": "it was sent to this ticket's reply address",
    "subject-reference": "its subject names this ticket and the sender is a participant",
}


def thread_rule_in_words(rule: str) -> str:
    """The threading rule in words; empty for messages written here."""
    if not rule:
        return ""
    head, _, automatic = rule.partition("; automatic: ")
    if head.startswith("new: "):
        text = f"it opened this ticket: {head[5:]}"
    elif head.startswith("new"):
        text = "it opened this ticket"
    else:
        text = THREAD_RULES.get(head, head)
    return f"{text} (automatic mail: {automatic})" if automatic else text
