"""Which ticket an inbound mail belongs to: DESIGN.md's rules as an ordered table, first
match wins. The lookups are handed in, so the rules themselves stay free of SQL."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from desk.mail.parse import ParsedMail


class ThreadLookup(Protocol):
    async def ticket_for_message_ids(self, message_ids: Sequence[str]) -> int | None: ...
    async def ticket_exists(self, ticket_id: int) -> bool: ...
    async def is_participant(self, ticket_id: int, address: str) -> bool: ...
    def ticket_for_reply_address(self, address: str) -> int | None: ...


@dataclass(frozen=True)
class Placement:
    ticket_id: int | None  # None: open a new ticket
    rule: str  # recorded on the message so an admin can see why it landed where it did


Rule = Callable[[ParsedMail, Sequence[str], ThreadLookup, str], Awaitable[Placement | None]]


async def _in_reply_to(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup, _prefix: str
) -> Placement | None:
    ticket = await look.ticket_for_message_ids(mail.in_reply_to)
    return Placement(ticket, "in-reply-to") if ticket else None


async def _references(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup, _prefix: str
) -> Placement | None:
    # The last reference is the direct parent; search from the newest back.
    ticket = await look.ticket_for_message_ids(list(reversed(mail.references)))
    return Placement(ticket, "references") if ticket else None


async def _reply_token(
    mail: ParsedMail, rcpts: Sequence[str], look: ThreadLookup, _prefix: str
) -> Placement | None:
    for address in [*rcpts, *mail.recipients]:
        ticket = look.ticket_for_reply_address(address)
        if ticket is not None and await look.ticket_exists(ticket):
            return Placement(ticket, "reply-token")
    return None


async def _subject_reference(
    mail: ParsedMail, _rcpts: Sequence[str], look: ThreadLookup, prefix: str
) -> Placement | None:
    ticket = subject_ticket_id(mail.subject, prefix)
    if ticket is None or not await look.ticket_exists(ticket):
        return None
    if mail.from_address and await look.is_participant(ticket, mail.from_address):
        return Placement(ticket, "subject-reference")
    # A stranger cannot append to someone else's ticket by guessing its number.
    return Placement(None, f"new: subject names #{ticket} but the sender is not a participant")


RULES: tuple[Rule, ...] = (_in_reply_to, _references, _reply_token, _subject_reference)


async def place(
    mail: ParsedMail, envelope_rcpts: Sequence[str], lookup: ThreadLookup, prefix: str
) -> Placement:
    for rule in RULES:
        placement = await rule(mail, envelope_rcpts, lookup, prefix)
        if placement is not None:
            return placement
    return Placement(None, "new: no thread matched")


def subject_tag(ticket_id: int, prefix: str) -> str:
    return f"[{prefix}#{ticket_id}]"


def subject_ticket_id(subject: str, prefix: str) -> int | None:
    match = re.search(rf"\[{re.escape(prefix)}#(\d{{1,12}})\]", subject, re.IGNORECASE)
    return int(match.group(1)) if match else None
