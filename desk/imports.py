"""Mail from an imported archive (`postdesk import-mbox`, daemon/importer.py) is history:
the rules intake (desk/processing.py) applies to it besides the usual ones. The desk's own
mails in the archive (from a support address or a staff account) become the desk's replies
on the ticket of the customer they were written to; every message keeps its original Date;
tickets the import opens are RESOLVED (so auto-assignment leaves them alone) unless the
import was run with `--open`; nothing imported moves a ticket that exists, acknowledges or
notifies anyone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from desk.models import Status, Ticket, TicketMessage, User, utcnow

IMPORT = "import"  # the stored mail's source: tickets it opens are resolved
IMPORT_OPEN = "import-open"  # `--open`: tickets it opens stay open for the team


def is_imported(source: str) -> bool:
    return source in (IMPORT, IMPORT_OPEN)


def is_support_address(address: str, support_address: str) -> bool:
    """The support address itself or one of its `+token` reply addresses."""
    local, _, domain = address.lower().partition("@")
    support_local, _, support_domain = support_address.lower().partition("@")
    return domain == support_domain and local.partition("+")[0] == support_local


def is_desk_address(address: str, users: Mapping[str, User], support_address: str) -> bool:
    user = users.get(address)
    return is_support_address(address, support_address) or (user is not None and user.is_staff)


def customer_of_desk_mail(
    recipients: Iterable[str], users: Mapping[str, User], support_address: str
) -> str | None:
    """Whom a mail the desk sent was written to: its first recipient who is not the desk."""
    return next((a for a in recipients if not is_desk_address(a, users, support_address)), None)


def sent_at(raw: bytes) -> datetime | None:
    """The mail's Date header (RFC 5322 3.6.1) as an aware datetime, never in the future;
    None when it is missing or unreadable."""
    end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    ends = [i for i in (end, crlf_end) if i >= 0]
    head = raw[: min(ends) + 4] if ends else raw
    value = BytesHeaderParser().parsebytes(head).get("Date")
    try:
        when = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:  # RFC 5322 `-0000`: the time is UTC, place unknown
        when = when.replace(tzinfo=utcnow().tzinfo) if when else None
    return min(when, utcnow()) if when else None


def as_history(
    ticket: Ticket,
    message: TicketMessage,
    *,
    when: datetime,
    updated_before: datetime | None,
    keep_open: bool,
) -> None:
    """Date the message, and the ticket it opened (`updated_before` None) or joined, by the
    mail's own time (add_message stamped them with the import's); a ticket the import opened
    is resolved as of its latest message unless `keep_open`."""
    message.created_at = when
    if updated_before is not None:
        ticket.updated_at = max(updated_before, when)
        if ticket.status == Status.RESOLVED.value and ticket.resolved_at is not None:
            ticket.resolved_at = max(ticket.resolved_at, when)
        return
    ticket.created_at = ticket.updated_at = when
    if not keep_open:
        ticket.status = Status.RESOLVED.value
        ticket.resolved_at = when
