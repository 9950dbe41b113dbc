"""Queues and their members: made by site admins, run by their own admins (the rights are
desk.auth.access.QUEUE_RIGHTS). Staff may read every queue and its members (to hand a ticket
on, to find a colleague); customers none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue, queue_role
from desk.auth.revocation import access_changed
from desk.board.defaults import add_default_columns
from desk.config import Settings
from desk.context import Desk
from desk.db import Database
from desk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, refuse_nulls
from desk.mail.headers import clean_header_text, is_plain_address
from desk.models import Queue, QueueAddress, QueueMember, Role, Ticket, User

MAX_ADDRESSES = 20
MAX_LOCAL_PART, MAX_ADDRESS = 64, 254  # RFC 5321 4.5.3.1 (a path holds 254 + <>)
# Addresses mail systems and abuse desks expect to reach a person (RFC 2142) or that mean
# "do not answer": never a queue's.
ROLE_ADDRESSES = frozenset(
    {"postmaster", "mailer-daemon", "abuse", "hostmaster", "webmaster", "noreply", "no-reply"}
)


def require_staff(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("queues are for agents and admins")


def _require(user: User, queue_id: int, right: str, what: str) -> None:
    if not may_in_queue(user, queue_id, right):
        raise PermissionDenied(f"{what} takes a queue {right} right (docs/design.md, Queues)")


def require_member(user: User, queue_id: int) -> None:
    """A queue's board and members are for its members and site admins: to anyone else the
    queue's inside is NotFound (404), so what a team does does not leak across teams."""
    if not may_in_queue(user, queue_id, "work"):
        raise NotFound(f"no queue {queue_id}")


async def get_queue(session: AsyncSession, queue_id: int) -> Queue:
    queue = await session.get(Queue, queue_id)
    if queue is None:
        raise NotFound(f"no queue {queue_id}")
    return queue


async def queue_data(session: AsyncSession, queue: Queue, viewer: User) -> dict[str, Any]:
    addresses = await session.scalars(
        select(QueueAddress.address)
        .where(QueueAddress.queue_id == queue.id)
        .order_by(QueueAddress.position, QueueAddress.address)
    )
    members = await session.scalar(
        select(func.count()).select_from(QueueMember).where(QueueMember.queue_id == queue.id)
    )
    role = queue_role(viewer, queue.id)
    return {
        "id": queue.id,
        "name": queue.name,
        "visibility": queue.visibility,
        "is_default": queue.is_default,
        "addresses": list(addresses),
        "member_count": int(members or 0),
        "my_role": role.value if role else None,
        "created_at": queue.created_at,
    }


async def list_queues(db: Database, viewer: User) -> list[dict[str, Any]]:
    require_staff(viewer)
    async with db.reader() as session:
        queues = await session.scalars(select(Queue).order_by(Queue.id))
        return [await queue_data(session, q, viewer) for q in queues]


async def queue_names(db: Database, viewer: User) -> list[tuple[int, str]]:
    """Every queue as (id, name), by id, for staff (PermissionDenied otherwise): what
    list_queues gives without the addresses and member counts (two statements per queue)."""
    require_staff(viewer)
    async with db.reader() as session:
        return [
            (i, name)
            for i, name in await session.execute(select(Queue.id, Queue.name).order_by(Queue.id))
        ]


async def show_queue(db: Database, viewer: User, queue_id: int) -> dict[str, Any]:
    require_staff(viewer)
    async with db.reader() as session:
        return await queue_data(session, await get_queue(session, queue_id), viewer)


async def create_queue(
    db: Database,
    settings: Settings,
    admin: User,
    *,
    name: str,
    visibility: str,
    addresses: Sequence[str],
) -> dict[str, Any]:
    """A site admin's new queue (`team` visibility unless said otherwise), with the
    default board columns."""
    async with db.writer() as session:
        queue = Queue(name=await _free_name(session, name, None), visibility=visibility)
        session.add(queue)
        await session.flush()
        add_default_columns(session, queue.id)
        await _set_addresses(session, settings, queue, addresses)
        return await queue_data(session, queue, admin)


async def update_queue(
    desk: Desk, actor: User, queue_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Name, addresses and visibility (queue admins); which queue is the default (site
    admins: the default catches the rest, so there is always exactly one). A new
    visibility is said to the members' open sockets (desk.auth.revocation.access_changed)."""
    require_staff(actor)
    refuse_nulls(changes, ("name", "visibility", "addresses", "is_default"))
    told: list[int] = []
    async with desk.db.writer() as session:
        queue = await get_queue(session, queue_id)
        _require(actor, queue_id, "manage", "changing a queue")
        if "name" in changes:
            queue.name = await _free_name(session, changes["name"], queue_id)
        if "visibility" in changes and changes["visibility"] != queue.visibility:
            queue.visibility = changes["visibility"]
            told = await member_ids(session, queue_id)
        if "addresses" in changes:
            await _set_addresses(session, desk.settings, queue, changes["addresses"])
        if changes.get("is_default") is True and not queue.is_default:
            if actor.role != Role.ADMIN:
                raise PermissionDenied("only site admins choose the default queue")
            await session.execute(update(Queue).values(is_default=False))
            queue.is_default = True
        elif changes.get("is_default") is False and queue.is_default:
            raise Conflict("make another queue the default instead", field="is_default")
        await session.flush()
        data = await queue_data(session, queue, actor)
    await access_changed(desk, told, "the queue's visibility changed")
    return data


async def member_ids(session: AsyncSession, queue_id: int) -> list[int]:
    """The ids of the queue's members."""
    found = await session.scalars(
        select(QueueMember.user_id).where(QueueMember.queue_id == queue_id)
    )
    return list(found)


async def delete_queue(desk: Desk, actor: User, queue_id: int) -> None:
    """Superadmins (and site admins) delete an empty queue that is not the default; tickets
    are moved out first, so none is left without a queue. Its members' open sockets of it
    close (desk.auth.revocation.access_changed)."""
    require_staff(actor)
    async with desk.db.writer() as session:
        queue = await get_queue(session, queue_id)
        _require(actor, queue_id, "own", "deleting a queue")
        if queue.is_default:
            raise Conflict("the default queue cannot be deleted", field="is_default")
        held = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.queue_id == queue_id)
        )
        if held:
            raise Conflict(f"the queue still holds {held} tickets; move them first", tickets=held)
        told = await member_ids(session, queue_id)
        await session.execute(delete(QueueMember).where(QueueMember.queue_id == queue_id))
        await session.execute(delete(QueueAddress).where(QueueAddress.queue_id == queue_id))
        await session.delete(queue)
    await access_changed(desk, told, "the queue was deleted")


async def _free_name(session: AsyncSession, name: str, queue_id: int | None) -> str:
    name = clean_header_text(name, limit=200).strip()
    if not name:
        raise ValidationFailed("a queue needs a name", field="name")
    other = await session.scalar(select(Queue.id).where(Queue.name == name))
    if other is not None and other != queue_id:
        raise Conflict(f"a queue named {name!r} exists", field="name")
    return name


async def _set_addresses(
    session: AsyncSession, settings: Settings, queue: Queue, addresses: Sequence[str]
) -> None:
    """The queue's addresses, in order (the first is its From). Each must be one the SMTP
    listener accepts mail for, and belong to no other queue (409). A configured support
    address (POSTDESK_SUPPORT_ADDRESS) is the default queue's without being listed: no
    other queue may list it (409 `support_address`, for site admins too), or mail to the
    desk's own address would land there instead of in the default queue."""
    queue_id = queue.id
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    if len(wanted) > MAX_ADDRESSES:
        raise ValidationFailed(f"at most {MAX_ADDRESSES} addresses", field="addresses")
    for address in wanted:
        local = address.partition("@")[0]
        if not is_plain_address(address) or "+" in local:
            raise ValidationFailed(f"not a plain address: {address}", field="addresses")
        if len(local) > MAX_LOCAL_PART or len(address) > MAX_ADDRESS:
            raise ValidationFailed(
                f"{address[:80]}: at most {MAX_LOCAL_PART} characters before the @ and"
                f" {MAX_ADDRESS} in all (RFC 5321)",
                field="addresses",
            )
        if local in ROLE_ADDRESSES:
            raise ValidationFailed(
                f"{address} is a role address (RFC 2142); mail servers answer it",
                field="addresses",
            )
        if address.rpartition("@")[2] not in settings.accepted_domains:
            raise ValidationFailed(
                f"{address}: mail is accepted for {sorted(settings.accepted_domains)} only",
                field="addresses",
            )
    staff = await session.scalar(select(User.email).where(User.email.in_(wanted)))
    if staff is not None:
        raise Conflict(
            f"{staff} is a person's account; a queue address would take their mail",
            field="addresses",
            reason="account_address",
        )
    taken = await session.scalar(
        select(QueueAddress.address).where(
            QueueAddress.address.in_(wanted), QueueAddress.queue_id != queue_id
        )
    )
    if taken is not None:
        raise Conflict(f"{taken} belongs to another queue", field="addresses")
    for address in wanted:
        if address in settings.support_addresses and not queue.is_default:
            raise Conflict(
                f"{address} is the desk's support address (POSTDESK_SUPPORT_ADDRESS), the"
                " default queue's: mail to it must not land in another queue",
                field="addresses",
                reason="support_address",
            )
    await session.execute(delete(QueueAddress).where(QueueAddress.queue_id == queue_id))
    session.add_all(
        QueueAddress(address=a, queue_id=queue_id, position=i) for i, a in enumerate(wanted)
    )
