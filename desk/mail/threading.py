"""Which ticket an inbound mail belongs to: DESIGN.md's rules as an ordered table, first
match wins. The lookups are handed in, so the rules themselves stay free of SQL; a ticket
is whatever the lookup hands back (a row, or a ticket still without a number)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from desk.mail.parse import ParsedMail

TicketT = TypeVar("TicketT")


class ThreadLookup(Protocol[TicketT]):
    async def ticket_for_message_ids(self, message_ids: Sequence[str]) -> TicketT | None: ...
    async def ticket_by_number(self, ticket_id: int) -> TicketT | None: ...
    async def is_participant(self, ticket: TicketT, address: str) -> bool: ...
    def ticket_for_reply_address(self, address: str) -> int | None: ...


@dataclass(frozen=True)
class Placement(Generic[TicketT]):
    ticket: TicketT | None  # None: open a new ticket
    rule: str  # recorded on the message so an admin can see why it landed where it did


Rule = Callable[
    [ParsedMail, Sequence[str], ThreadLookup[Any], str], Awaitable[Placement[Any] | None]
]


async def _in_reply_to(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup[TicketT], _prefix: str
) -> Placement[TicketT] | None:
    ticket = await look.ticket_for_message_ids(mail.in_reply_to)
    return Placement(ticket, "in-reply-to") if ticket is not None else None


async def _references(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup[TicketT], _prefix: str
) -> Placement[TicketT] | None:
    # The last reference is the direct parent; search from the newest back.
    ticket = await look.ticket_for_message_ids(list(reversed(mail.references)))
    return Placement(ticket, "references") if ticket is not None else None


async def _reply_token(
    mail: ParsedMail, rcpts: Sequence[str], look: ThreadLookup[TicketT], _prefix: str
) -> Placement[TicketT] | None:
    for address in token_addresses(mail, rcpts):
        number = look.ticket_for_reply_address(address)
        ticket = await look.ticket_by_number(number) if number is not None else None
        if ticket is not None:
            return Placement(ticket, "reply-token")
    return None


async def _subject_reference(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup[TicketT], prefix: str
) -> Placement[TicketT] | None:
    number = subject_ticket_id(mail.subject, prefix)
    ticket = await look.ticket_by_number(number) if number is not None else None
    if ticket is None:
        return None
    if mail.from_address and await look.is_participant(ticket, mail.from_address):
        return Placement(ticket, "subject-reference")
    # A stranger cannot append to someone else's ticket by guessing its number.
    return Placement(None, f"new: subject names #{number} but the sender is not a participant")


RULES: tuple[Rule, ...] = (_in_reply_to, _references, _reply_token, _subject_reference)


async def place(
    mail: ParsedMail, envelope_rcpts: Sequence[str], lookup: ThreadLookup[TicketT], prefix: str
) -> Placement[TicketT]:
    for rule in RULES:
        placement = await rule(mail, envelope_rcpts, lookup, prefix)
        if placement is not None:
            return placement
    return Placement(None, "new: no thread matched")


def token_addresses(mail: ParsedMail, envelope_rcpts: Sequence[str]) -> list[str]:
    """Where a reply token may be: the envelope recipients, then those the mail's headers
    name (To, Cc, Delivered-To, X-Original-To)."""
    return [*envelope_rcpts, *mail.recipients]


def subject_tag(ticket_id: int, prefix: str) -> str:
    return f"[{prefix}#{ticket_id}]"


def subject_ticket_id(subject: str, prefix: str) -> int | None:
    match = re.search(rf"\[{re.escape(prefix)}#(\d{{1,12}})\]", subject, re.IGNORECASE)
    return int(match.group(1)) if match else None


# "Re:" and its translations as mail clients put them in front (Outlook's AW:, Sv:, Antw:,
# …), possibly repeated or counted ("Re[2]:"): our own "Re:" replaces them.
_REPLY_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|sv|vs|antw|odp|ref|rif|res|atb|vá|ynt)\s*(?:\[\d{1,4}\])?\s*:)+\s*",
    re.IGNORECASE,
)


def without_tags(subject: str, prefix: str) -> str:
    """`subject` with every ticket tag of ours taken out (`Re: [#1] Printer` is
    `Re: Printer`): a ticket opened by a reply to a closed one has the old tag in its
    subject, and its mail must carry one tag, its own."""
    text = re.sub(rf"\[{re.escape(prefix)}#\d{{1,12}}\]", " ", subject, flags=re.IGNORECASE)
    return " ".join(text.split())


def follow_up_subject(subject: str, prefix: str) -> str:
    """The subject of a ticket opened by a reply to a finished one: the reply's subject
    without its reply prefixes and old tags (`Re: Re: [#5] Invoice` is `Invoice`), so the
    new ticket reads as its own conversation; the subject itself if nothing is left."""
    return _REPLY_PREFIXES.sub("", without_tags(subject, prefix)) or subject


def tagged_subject(ticket_id: int, subject: str, prefix: str, *, reply: bool) -> str:
    """The subject of a mail about a ticket: its one tag, then the subject without old tags;
    a reply starts with one `Re:` (the subject's own reply prefixes are dropped)."""
    base = without_tags(subject, prefix)
    if reply:
        base = _REPLY_PREFIXES.sub("", base)
    tagged = f"{subject_tag(ticket_id, prefix)} {base or '(no subject)'}"
    return f"Re: {tagged}" if reply else tagged
