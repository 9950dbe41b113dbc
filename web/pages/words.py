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


def status_words(value: str | None) -> str:
    """`WAITING_ON_CUSTOMER` -> "Waiting on customer" (statuses and priorities, as the
    pages show them everywhere)."""
    return (value or "").replace("_", " ").capitalize()


# Fields whose values are words of the desk's own (statuses, priorities).
_WORDED = ("status", "priority")
# Field names as a sentence says them.
_FIELD_WORDS = {"participants": "recipients", "assigned_agent": "assignee"}


def change_in_words(field: str, old: str | None, new: str | None) -> str:
    """A history line after its actor's name, as a person would write it: "changed the
    status from Open to Waiting on customer", "assigned the ticket to Ann", "merged this
    ticket into #12". `old` and `new` as the page shows them (people by name)."""
    if field in _WORDED:
        old, new = (status_words(v) if v else v for v in (old, new))
    if field == "assigned_agent":
        if not new:
            return f"unassigned the ticket (it was with {old})" if old else "unassigned the ticket"
        if old:
            return f"reassigned the ticket from {old} to {new}"
        return f"assigned the ticket to {new}"
    if field == "merged_into":
        return f"merged this ticket into #{new}" if new else f"took this ticket out of #{old}"
    if field == "merged_from":
        return f"merged #{new} into this ticket" if new else f"took #{old} back out of it"
    if field == "archived":
        return "archived the ticket" if new == "True" else "took the ticket out of the archive"
    if field == "queue":
        return "moved the ticket to another queue"
    if field == "tags":
        old, new = (", ".join((v or "").split(",")) or "none" for v in (old, new))
    name = _FIELD_WORDS.get(field, field.replace("_", " "))
    if not new:
        return f"cleared the {name}" + (f" (it was {_quoted(field, old)})" if old else "")
    if not old:
        return f"set the {name} to {_quoted(field, new)}"
    return f"changed the {name} from {_quoted(field, old)} to {_quoted(field, new)}"


def _quoted(field: str, value: str | None) -> str:
    """Free text (a subject, recipients) in quotation marks; the desk's own words bare."""
    return str(value) if field in (*_WORDED, "tags") else f"“{value}”"
