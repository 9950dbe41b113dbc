"""Who is in a ticket's conversation, and so who a public reply goes to: the customer, and
the people the conversation's mails were also sent to (reply-all, as mail clients do it).
Mail adds people (desk/processing.py); staff add and remove them with a reply
(desk/tickets/service.py). The desk's own addresses are never participants, so the desk
never mails itself."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.errors import ValidationFailed
from desk.mail.headers import is_plain_address
from desk.mail.parse import ParsedMail
from desk.models import ParticipantRole, Ticket, TicketParticipant, User, utcnow

# A conversation copied to more people than this is a mailing list, not a conversation:
# mail adds nobody past it (staff still may, up to MAX_GIVEN a reply).
MAX_FROM_MAIL = 50
MAX_GIVEN = 50
# `Name <address>` or a bare address; nothing else (no groups, comments or line breaks).
_NAMED = re.compile(r"^([^<>\"\x00-\x1f\x7f]*)<([^<>]+)>$")
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029,;:\"\\]")


@dataclass(frozen=True)
class Person:
    name: str
    address: str  # lower-cased plain address


@dataclass(frozen=True)
class Recipients:
    """Who a public reply goes to: at least one person in To."""

    to: list[Person]
    cc: list[Person]

    def data(self) -> dict[str, list[str]]:
        """The API's `recipients`: addresses by header."""
        return {"to": [p.address for p in self.to], "cc": [p.address for p in self.cc]}

    def text(self) -> str:
        """As the ticket's history shows it: `to: a@x; cc: b@y, c@z`."""
        data = self.data()
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in data.items() if v)


NOBODY = Recipients([], [])


async def load(session: AsyncSession, ticket_id: int) -> list[TicketParticipant]:
    """A ticket's participant rows (those staff removed included), oldest first."""
    found = await session.scalars(
        select(TicketParticipant)
        .where(TicketParticipant.ticket_id == ticket_id)
        .order_by(TicketParticipant.id)
    )
    return list(found)


def start(
    session: AsyncSession, ticket: Ticket, customer: User, rows: list[TicketParticipant]
) -> None:
    """Make the customer a participant, in To, unless they have a row already (one staff
    removed stays removed). Every ticket has its customer from its start; tickets from
    before participants got theirs by migration 0017."""
    if not any(row.address == customer.email for row in rows):
        _add(session, ticket, rows, Person(customer.name, customer.email), ParticipantRole.TO)


def mail_people(settings: Settings, mail: ParsedMail, sender: str) -> list[Person]:
    """The people a mail names for its conversation: its sender, then its To and Cc
    recipients, without the desk's own addresses."""
    people = [Person(mail.from_name, sender), *(Person(n, a) for n, a in (*mail.to, *mail.cc))]
    return [p for p in people if not settings.is_own_address(p.address)]


def join(
    session: AsyncSession,
    ticket: Ticket,
    rows: list[TicketParticipant],
    people: Sequence[Person],
) -> None:
    """Add the people a mail names to the conversation, in Cc. People already in it keep
    their place; people staff removed stay removed (the mail may be a reply-all to an
    older mail that still names them)."""
    known = {row.address: row for row in rows}
    for person in people:
        row = known.get(person.address)
        if row is not None:
            if not row.name and person.name:
                row.name = person.name
            continue
        if sum(r.is_active for r in rows) >= MAX_FROM_MAIL:
            return
        known[person.address] = _add(session, ticket, rows, person, ParticipantRole.CC)


def is_participant(rows: Sequence[TicketParticipant], address: str) -> bool:
    return any(row.is_active and row.address == address for row in rows)


def recipients(rows: Sequence[TicketParticipant]) -> Recipients:
    """To and Cc of a public reply: the active participants by role, oldest first."""
    active = [r for r in rows if r.is_active]
    to = [Person(r.name, r.address) for r in active if r.role == ParticipantRole.TO]
    cc = [Person(r.name, r.address) for r in active if r.role == ParticipantRole.CC]
    return Recipients(to, cc)


def change(
    session: AsyncSession,
    ticket: Ticket,
    rows: list[TicketParticipant],
    actor: User,
    *,
    to: Sequence[Person] | None,
    cc: Sequence[Person] | None,
) -> bool:
    """Set To and/or Cc to exactly the people given, for this reply and later ones: people
    left out are removed, new people added, people named again brought back. Someone in
    both lists is in To. Returns whether anything changed. Raises ValidationFailed (`to`)
    when nobody would be left in To."""
    before = recipients(rows)
    if to is not None:
        _set_role(session, ticket, rows, actor, ParticipantRole.TO, to)
    if cc is not None:
        named_to = {p.address for p in (to or [])}
        wanted = [p for p in cc if p.address not in named_to]
        _set_role(session, ticket, rows, actor, ParticipantRole.CC, wanted)
    after = recipients(rows)
    if not after.to:
        raise ValidationFailed("a public reply needs someone in To", field="to")
    return after != before


def _set_role(
    session: AsyncSession,
    ticket: Ticket,
    rows: list[TicketParticipant],
    actor: User,
    role: ParticipantRole,
    people: Sequence[Person],
) -> None:
    wanted = {p.address: p for p in people}
    now = utcnow()
    for row in rows:
        if row.role == role and row.is_active and row.address not in wanted:
            row.removed_at = now
    known = {row.address: row for row in rows}
    for person in people:
        row = known.get(person.address) or _add(session, ticket, rows, person, role, actor)
        row.role, row.removed_at = role.value, None
        row.name = person.name or row.name


def _add(
    session: AsyncSession,
    ticket: Ticket,
    rows: list[TicketParticipant],
    person: Person,
    role: ParticipantRole,
    actor: User | None = None,
) -> TicketParticipant:
    row = TicketParticipant(
        ticket=ticket,
        address=person.address,
        name=person.name[:200],
        role=role.value,
        added_by_id=actor.id if actor is not None else None,
        created_at=utcnow(),
    )
    session.add(row)
    rows.append(row)
    return row


def people_given(settings: Settings, values: Sequence[str] | None, field: str) -> list[Person]:
    """Addresses as staff give them (`rosa@example.com` or `Rosa Lind <rosa@example.com>`),
    checked strictly: a plain address, a name without line breaks or address syntax, not
    one of the desk's own addresses, at most MAX_GIVEN. ValidationFailed names `field`."""
    if values is None:
        return []
    if len(values) > MAX_GIVEN:
        raise ValidationFailed(f"at most {MAX_GIVEN} addresses", field=field)
    people: dict[str, Person] = {}
    for value in values:
        person = _person(value, field)
        if settings.is_own_address(person.address):
            raise ValidationFailed(f"{person.address} is the desk's own address", field=field)
        people.setdefault(person.address, person)
    return list(people.values())


def _person(value: str, field: str) -> Person:
    text = value.strip()
    named = _NAMED.match(text)
    name, address = (named.group(1).strip(), named.group(2).strip()) if named else ("", text)
    address = address.lower()
    plain = is_plain_address(address) and address.isascii()
    if not plain or _BAD_NAME.search(name) or len(name) > 200:
        raise ValidationFailed(f"not an address: {value[:100]!r}", field=field)
    return Person(name, address)
