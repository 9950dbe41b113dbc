"""Is this mail automatic? Small checks in a fixed order (as Zammad's filters); the first
that matches names the reason. Automatic mail is stored and threaded but never answered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Headers = Mapping[str, str]  # lower-cased names


@dataclass(frozen=True)
class MailFacts:
    headers: Headers
    content_type: str
    from_address: str
    envelope_sender: str | None  # None when the mail did not come over SMTP
    support_address: str


def _auto_submitted(f: MailFacts) -> str | None:
    value = f.headers.get("auto-submitted", "").strip().lower()
    return f"Auto-Submitted: {value}" if value and not value.startswith("no") else None


def _precedence(f: MailFacts) -> str | None:
    value = f.headers.get("precedence", "").strip().lower()
    return f"Precedence: {value}" if value in ("bulk", "junk", "list") else None


def _autoreply_headers(f: MailFacts) -> str | None:
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress"):
        if name in f.headers:
            return f"{name} header present"
    return None


def _delivery_report(f: MailFacts) -> str | None:
    if f.content_type.lower() == "multipart/report":
        return "delivery status notification (multipart/report)"
    return None


def _system_sender(f: MailFacts) -> str | None:
    local = f.from_address.partition("@")[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return f"sent by {local}"
    if f.envelope_sender in ("", "<>"):
        return "null envelope sender (bounce)"
    return None


def _from_ourselves(f: MailFacts) -> str | None:
    if f.from_address.lower() == f.support_address.lower():
        return "sent from the support address itself"
    local, _, domain = f.from_address.lower().partition("@")
    support_local, _, support_domain = f.support_address.lower().partition("@")
    if domain == support_domain and local.partition("+")[0] == support_local:
        return "sent from a support reply address"
    return None


CHECKS: tuple[Callable[[MailFacts], str | None], ...] = (
    _auto_submitted,
    _precedence,
    _autoreply_headers,
    _delivery_report,
    _system_sender,
    _from_ourselves,
)


def automatic_reason(facts: MailFacts) -> str | None:
    for check in CHECKS:
        reason = check(facts)
        if reason:
            return reason
    return None
