"""Chat rooms: direct (one per pair, found again rather than duplicated) and group rooms,
optionally tied to a project. Only participants read or write a room; for everyone else it
does not exist (404). The chat is the team's: customers get 403 everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import may_in_queue
from desk.chat.events import chat_users, for_reader, message_views, participant_ids
from desk.context import Desk
from desk.db import Database
from desk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from desk.events.chat import ChatMessageView, ChatUser, RoomDeleted, UserJoined, UserLeft
from desk.models import ChatMessage, ChatParticipant, ChatRoom, Queue, Role, User, utcnow


def require_staff(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("the team chat is for agents and admins")


async def member_room(session: AsyncSession, user: User, room_id: int) -> ChatRoom:
    require_staff(user)
    room = await session.get(ChatRoom, room_id)
    if room is None or user.id not in await participant_ids(session, room_id):
        raise NotFound(f"no room {room_id}")
    return room


async def _managed_room(session: AsyncSession, user: User, room_id: int) -> ChatRoom:
    """A room `user` may manage: its creator (a participant) or an admin."""
    require_staff(user)
    room = await session.get(ChatRoom, room_id)
    if room is None or (
        user.role != Role.ADMIN and user.id not in await participant_ids(session, room_id)
    ):
        raise NotFound(f"no room {room_id}")
    if user.role != Role.ADMIN and room.created_by != user.id:
        raise PermissionDenied("only the room's creator or an admin manage its participants")
    return room


async def _staff(session: AsyncSession, ids: set[int]) -> None:
    found = set(
        await session.scalars(
            select(User.id).where(
                User.id.in_(ids),
                User.is_active.is_(True),
                User.role.in_([Role.AGENT.value, Role.ADMIN.value]),
            )
        )
    )
    if found != ids:
        raise ValidationFailed(
            f"not active agents or admins: {sorted(ids - found)}", field="participant_ids"
        )


async def create_room(
    desk: Desk, actor: User, *, name: str, kind: str, participants: list[int], project: str | None
) -> tuple[ChatRoom, bool]:
    """The room, and whether it is new (a direct room with the same pair is returned)."""
    require_staff(actor)
    others = set(participants) - {actor.id}
    async with desk.change() as (session, events):
        await _staff(session, others)
        if kind == "direct":
            if len(others) != 1:
                raise ValidationFailed(
                    "a direct room has exactly one other participant", field="participant_ids"
                )
            key = ":".join(str(i) for i in sorted({actor.id, *others}))
            existing = await session.scalar(select(ChatRoom).where(ChatRoom.direct_key == key))
            if existing is not None:
                return existing, False
            room = ChatRoom(name="", type="direct", direct_key=key, created_by=actor.id)
        else:
            if not name:
                raise ValidationFailed("a group room needs a name", field="name")
            await _project_of(session, actor, project)
            room = ChatRoom(name=name, type="group", project=project, created_by=actor.id)
        session.add(room)
        await session.flush()
        members = tuple(sorted({actor.id, *others}))
        session.add_all(ChatParticipant(room_id=room.id, user_id=u) for u in members)
        people = await chat_users(session, set(members))
        for u in members:
            events.append(
                UserJoined(room_id=room.id, participant_ids=members, user_id=u, user=people[u])
            )
    return room, True


async def set_participant(
    desk: Desk, actor: User, room_id: int, user_id: int, present: bool
) -> None:
    async with desk.change() as (session, events):
        room = await _managed_room(session, actor, room_id)
        if room.type == "direct":
            raise Conflict("a direct room's pair does not change")
        members = set(await participant_ids(session, room_id))
        if present == (user_id in members):
            return
        if present:
            await _staff(session, {user_id})
            session.add(ChatParticipant(room_id=room_id, user_id=user_id))
            members.add(user_id)
            events.append(
                UserJoined(
                    room_id=room_id,
                    participant_ids=tuple(sorted(members)),
                    user_id=user_id,
                    user=(await chat_users(session, {user_id}))[user_id],
                )
            )
        else:
            await session.execute(
                delete(ChatParticipant).where(
                    ChatParticipant.room_id == room_id, ChatParticipant.user_id == user_id
                )
            )
            # The leaver hears it too, then their sockets on the room close.
            events.append(
                UserLeft(
                    room_id=room_id,
                    participant_ids=tuple(sorted(members)),
                    user_id=user_id,
                    remaining=tuple(sorted(members - {user_id})),
                    user=(await chat_users(session, {user_id})).get(user_id, ChatUser(id=user_id)),
                )
            )


async def delete_room(desk: Desk, actor: User, room_id: int) -> None:
    async with desk.change() as (session, events):
        room = await _managed_room(session, actor, room_id)
        members = await participant_ids(session, room_id)
        await session.execute(delete(ChatMessage).where(ChatMessage.room_id == room_id))
        await session.execute(delete(ChatParticipant).where(ChatParticipant.room_id == room_id))
        await session.delete(room)
        events.append(RoomDeleted(room_id=room_id, participant_ids=members))


async def mark_read(db: Database, user: User, room_id: int) -> None:
    async with db.writer() as session:
        await member_room(session, user, room_id)
        row = await session.get(ChatParticipant, (room_id, user.id))
        assert row is not None
        row.last_read_at = utcnow()


async def list_rooms(
    db: Database, user: User, project: str | None, room_id: int | None = None
) -> list[dict[str, Any]]:
    """The caller's rooms (or the one `room_id`) with participants, unread counts and the
    last message, in a fixed number of queries whatever the number of rooms."""
    require_staff(user)
    async with db.reader() as session:
        rooms = (await session.execute(_rooms_query(user, project, room_id))).all()
        ids = [room.id for room, _ in rooms]
        members = await _participants(session, ids)
        people = await chat_users(session, {p.user_id for ps in members.values() for p in ps})
        unread = await _unread_counts(session, user, ids)
        last = await _last_messages(session, ids)
    return [
        {
            **room_data(
                room,
                sorted(p.user_id for p in members.get(room.id, [])),
                int(unread.get(room.id, 0)),
                last_read,
            ),
            **room_seed_data(room, user, members.get(room.id, []), people, last.get(room.id)),
        }
        for room, last_read in rooms
    ]


def _rooms_query(
    user: User, project: str | None, room_id: int | None
) -> Select[ChatRoom, datetime | None]:
    """The rooms `user` takes part in, with when they last read each."""
    query = (
        select(ChatRoom, ChatParticipant.last_read_at)
        .join(ChatParticipant, ChatParticipant.room_id == ChatRoom.id)
        .where(ChatParticipant.user_id == user.id)
        .order_by(ChatRoom.id)
    )
    if project is not None:
        query = query.where(ChatRoom.project == project)
    if room_id is not None:
        query = query.where(ChatRoom.id == room_id)
    return query


async def _participants(session: AsyncSession, ids: list[int]) -> dict[int, list[ChatParticipant]]:
    """The participants of each room in `ids`, by user id."""
    members: dict[int, list[ChatParticipant]] = {}
    for p in await session.scalars(
        select(ChatParticipant)
        .where(ChatParticipant.room_id.in_(ids))
        .order_by(ChatParticipant.user_id)
    ):
        members.setdefault(p.room_id, []).append(p)
    return members


async def _last_messages(session: AsyncSession, ids: list[int]) -> dict[int, ChatMessageView]:
    """The newest message of each room in `ids` that has one."""
    if not ids:
        return {}
    newest = (
        select(func.max(ChatMessage.id))
        .where(ChatMessage.room_id.in_(ids))
        .group_by(ChatMessage.room_id)
    )
    rows = list(await session.scalars(select(ChatMessage).where(ChatMessage.id.in_(newest))))
    return {v.room_id: v for v in await message_views(session, rows)}


async def _unread_counts(session: AsyncSession, user: User, ids: list[int]) -> dict[int, int]:
    """How many messages by others `user` has not read yet, per room in `ids`."""
    return dict(
        (
            await session.execute(
                select(ChatMessage.room_id, func.count())
                .join(
                    ChatParticipant,
                    and_(
                        ChatParticipant.room_id == ChatMessage.room_id,
                        ChatParticipant.user_id == user.id,
                    ),
                )
                .where(
                    ChatMessage.room_id.in_(ids),
                    ChatMessage.author_id != user.id,
                    or_(
                        ChatParticipant.last_read_at.is_(None),
                        ChatMessage.created_at > ChatParticipant.last_read_at,
                    ),
                )
                .group_by(ChatMessage.room_id)
            )
        ).all()
    )


def room_data(
    room: ChatRoom, members: list[int], unread: int, last_read: Any = None
) -> dict[str, Any]:
    return {
        "id": room.id,
        "name": room.name,
        "type": room.type,
        "project": room_project(room),
        "project_label": room.project,
        "created_by": room.created_by,
        "created_at": room.created_at.isoformat(),
        "participant_ids": members,
        "unread_count": unread,
        "last_read_at": last_read.isoformat() if last_read else None,
    }


async def _project_of(session: AsyncSession, actor: User, project: str | None) -> None:
    """A numeric `project` names a queue: one that exists and `actor` works (a member, or
    a site admin). Otherwise 400 on `project`, the same for a queue that is not there and
    one of others, so nobody learns which queues exist. Any other label is free text."""
    label = project or ""
    if not label.isdigit():
        return
    queue_id = int(label) if len(label) <= 9 else 0
    queue = await session.get(Queue, queue_id) if queue_id else None
    if queue is None or not may_in_queue(actor, queue.id, "work"):
        raise ValidationFailed(f"no queue {label} of yours", field="project")


def room_project(room: ChatRoom) -> int | None:
    """The room's `project` as S2's front end reads it: a number. Rooms carry a free label
    (`project_label`); a numeric label is that number, any other label has none. The one
    place that decides it: when rooms belong to queues, it answers the room's queue."""
    label = room.project or ""
    return int(label) if label.isdigit() and len(label) <= 9 else None


def room_seed_data(
    room: ChatRoom,
    reader: User,
    participants: list[ChatParticipant],
    people: dict[int, ChatUser],
    last: ChatMessageView | None,
) -> dict[str, Any]:
    """The room under S2's names (its `ChatRoom` type), next to ours: `display_name` (a
    direct room is called after the other person), `participants`, `last_message` as the
    reader sees it, `updated_at` (its last message, or its creation)."""
    others = [people[p.user_id] for p in participants if p.user_id != reader.id]
    if room.type == "direct":
        display = others[0].name or others[0].email if others else room.name
    else:
        display = room.name
    return {
        "display_name": display,
        "participants": [
            {
                "user": people.get(p.user_id, ChatUser(id=p.user_id)).data(),
                "joined_at": p.joined_at.isoformat(),
                "last_read_at": p.last_read_at.isoformat() if p.last_read_at else None,
            }
            for p in participants
        ],
        "last_message": None if last is None else for_reader(last, reader),
        "updated_at": (last.created_at if last else room.created_at).isoformat(),
    }


async def get_room(db: Database, user: User, room_id: int) -> dict[str, Any]:
    rooms = await list_rooms(db, user, None, room_id)
    if not rooms:
        raise NotFound(f"no room {room_id}")
    return rooms[0]
