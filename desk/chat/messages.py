"""Chat messages: text, image or file; edits by the author, deletes by the author or an
admin, reactions (one per user, emoji and message), typing (never stored), search within
the caller's rooms. `#123` carries a preview of ticket 123 to those who may see it;
`@name` tells a mentioned participant on their notifications socket."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.chat.events import MENTION, message_views, participant_ids
from desk.chat.rooms import member_room, require_staff
from desk.context import Desk
from desk.db import Database, insert_ignoring_conflicts
from desk.errors import NotFound, PermissionDenied, ValidationFailed
from desk.events.chat import (
    ChatMention,
    ChatMessageDeleted,
    ChatMessageEdited,
    ChatMessageNew,
    ChatMessageView,
    ChatUser,
    ReactionAdded,
    ReactionRemoved,
    UserTyping,
)
from desk.models import ChatMessage, ChatParticipant, ChatReaction, Role, User, utcnow
from desk.search.engines import matches
from desk.search.syntax import check
from desk.uploads import Upload

MAX_BODY = 10_000


async def _data(session: AsyncSession, m: ChatMessage) -> ChatMessageView:
    return (await message_views(session, [m]))[0]


async def post(
    desk: Desk,
    actor: User,
    room_id: int,
    body: str,
    upload: Upload | None = None,
    kind: str = "text",
) -> ChatMessageView:
    """`kind` as the client declared it (S2 sends one): the file decides it when there is
    one; without a file only `text` is possible."""
    body = body.strip()
    if not body and upload is None:
        raise ValidationFailed("write something or attach a file", field="body")
    if upload is None and kind != "text":
        raise ValidationFailed(f"a {kind} message needs a file", field="type")
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"at most {MAX_BODY} characters", field="body")
    async with desk.change() as (session, events):
        await member_room(session, actor, room_id)
        message = ChatMessage(room_id=room_id, author_id=actor.id, body=body, kind="text")
        if upload is not None:
            # An image by its bytes, not by what the client says: typed as its bytes are;
            # one said to be an image but not one is kept as a plain file.
            said_image = upload.content_type.startswith("image/")
            message.kind = "image" if said_image and upload.image else "file"
            file_type = upload.content_type
            if said_image:
                file_type = upload.image or "application/octet-stream"
            message.file_sha256, message.file_name = upload.sha256, upload.filename
            message.file_type, message.file_size = file_type, upload.size
        session.add(message)
        await session.flush()
        members = await participant_ids(session, room_id)
        data = await _data(session, message)
        events.append(ChatMessageNew(room_id=room_id, participant_ids=members, message=data))
        for user_id in await _mentioned(session, body, members, actor):
            events.append(
                ChatMention(room_id=room_id, participant_ids=members, user_id=user_id, message=data)
            )
    return data


async def _mentioned(
    session: AsyncSession, body: str, members: tuple[int, ...], actor: User
) -> list[int]:
    """Participants named by `@name`: their name without spaces or their email's local
    part, case-insensitive. Only participants: a mention never carries a message out."""
    names = {n.lower() for n in MENTION.findall(body)}
    if not names:
        return []
    people = await session.scalars(select(User).where(User.id.in_(members)))
    return [
        u.id
        for u in people
        if u.id != actor.id
        and (u.email.split("@")[0].lower() in names or u.name.replace(" ", "").lower() in names)
    ]


async def _own_message(
    session: AsyncSession, actor: User, message_id: int, *, admin_may: bool
) -> ChatMessage:
    require_staff(actor)
    message = await session.get(ChatMessage, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    members = await participant_ids(session, message.room_id)
    is_admin = actor.role == Role.ADMIN
    if actor.id not in members and not (admin_may and is_admin):
        raise NotFound(f"no message {message_id}")
    if message.author_id != actor.id and not (admin_may and is_admin):
        raise PermissionDenied(
            "only the author" + (" or an admin" if admin_may else "") + " may do this"
        )
    return message


async def edit(desk: Desk, actor: User, message_id: int, body: str) -> ChatMessageView:
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise ValidationFailed(f"1 to {MAX_BODY} characters", field="body")
    async with desk.change() as (session, events):
        message = await _own_message(session, actor, message_id, admin_may=False)
        message.body, message.is_edited, message.edited_at = body, True, utcnow()
        await session.flush()
        data = await _data(session, message)
        members = await participant_ids(session, message.room_id)
        events.append(
            ChatMessageEdited(room_id=message.room_id, participant_ids=members, message=data)
        )
    return data


async def remove(desk: Desk, actor: User, message_id: int) -> None:
    async with desk.change() as (session, events):
        message = await _own_message(session, actor, message_id, admin_may=True)
        members = await participant_ids(session, message.room_id)
        await session.execute(delete(ChatReaction).where(ChatReaction.message_id == message_id))
        await session.delete(message)
        events.append(
            ChatMessageDeleted(
                room_id=message.room_id, participant_ids=members, message_id=message_id
            )
        )


async def react(desk: Desk, actor: User, message_id: int, emoji: str, add: bool) -> ChatMessageView:
    emoji = emoji.strip()
    if not emoji or len(emoji) > 32:
        raise ValidationFailed("an emoji of at most 32 characters", field="emoji")
    async with desk.change() as (session, events):
        message = await session.get(ChatMessage, message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        await member_room(session, actor, message.room_id)
        key = {"message_id": message_id, "user_id": actor.id, "emoji": emoji}
        if add:
            result = await session.execute(
                insert_ignoring_conflicts(session, ChatReaction).values(**key, created_at=utcnow())
            )
        else:
            result = await session.execute(
                delete(ChatReaction).where(*(getattr(ChatReaction, k) == v for k, v in key.items()))
            )
        if result.rowcount:  # type: ignore[attr-defined]
            members = await participant_ids(session, message.room_id)
            kind = ReactionAdded if add else ReactionRemoved
            events.append(
                kind(
                    room_id=message.room_id,
                    participant_ids=members,
                    message_id=message_id,
                    user_id=actor.id,
                    emoji=emoji,
                    user=ChatUser(id=actor.id, name=actor.name, email=actor.email),
                )
            )
        return await _data(session, message)


async def typing(desk: Desk, actor: User, room_id: int, is_typing: bool = True) -> None:
    """Said to the room, never stored; `is_typing` false says the person stopped."""
    async with desk.db.reader() as session:
        await member_room(session, actor, room_id)
        members = await participant_ids(session, room_id)
    typing = UserTyping(
        room_id=room_id, participant_ids=members, user_id=actor.id, is_typing=is_typing
    )
    await desk.bus.publish([typing])


async def list_messages(
    db: Database,
    user: User,
    *,
    room_id: int | None,
    search: str | None,
    offset: int,
    limit: int,
    oldest_first: bool = False,
) -> tuple[int, list[ChatMessageView], bool]:
    """Newest first, or oldest first (the order S2's front end shows, appending new ones).
    Without a room: every room the caller is in (what search needs)."""
    require_staff(user)
    async with db.searcher() if search else db.reader() as session:
        if room_id is not None:
            await member_room(session, user, room_id)
            where = [ChatMessage.room_id == room_id]
        else:
            mine = select(ChatParticipant.room_id).where(ChatParticipant.user_id == user.id)
            where = [ChatMessage.room_id.in_(mine)]
        if search:  # the same full-text machinery as ticket search
            found = matches(session, "chat_messages", check(search)).subquery()
            where.append(ChatMessage.id.in_(select(found.c.id)))
        count = int(
            await session.scalar(select(func.count()).select_from(ChatMessage).where(*where)) or 0
        )
        rows = list(
            await session.scalars(
                select(ChatMessage)
                .where(*where)
                .order_by(ChatMessage.id if oldest_first else ChatMessage.id.desc())
                .offset(offset)
                .limit(limit + 1)
            )
        )
        more, rows = len(rows) > limit, rows[:limit]
        return count, await message_views(session, rows), more


async def message_file(db: Database, user: User, message_id: int) -> ChatMessage:
    async with db.reader() as session:
        message = await session.get(ChatMessage, message_id)
        if message is None or message.file_sha256 is None:
            raise NotFound(f"no file on message {message_id}")
        await member_room(session, user, message.room_id)
        return message
