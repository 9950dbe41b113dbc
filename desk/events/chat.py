"""The team chat's events: every one names its room and the room's participants, so the hub
can check membership per event without asking the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from desk.events.base import Event, must_time, read_time, text_time


@dataclass(frozen=True, kw_only=True)
class TicketRef:
    """A ticket a chat message names (`#123`), with the fields access needs; each reader
    sees a preview only of the tickets they may open (desk.chat.events.for_reader)."""

    id: int
    subject: str
    status: str
    assigned_agent_id: int | None
    customer_id: int
    company_id: int | None
    queue_id: int = 1  # events stored before queues (migration 0018): the default queue

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "status": self.status,
            "assigned_agent_id": self.assigned_agent_id,
            "customer_id": self.customer_id,
            "company_id": self.company_id,
            "queue_id": self.queue_id,
        }


@dataclass(frozen=True, kw_only=True)
class ChatFile:
    name: str | None
    content_type: str | None
    size: int | None
    url: str

    def data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "url": self.url,
        }


@dataclass(frozen=True, kw_only=True)
class ChatUser:
    """Who wrote or reacted, as S2's front end shows them (its `ChatUser`)."""

    id: int
    name: str = ""
    email: str = ""

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}

    @classmethod
    def from_data(cls, d: Mapping[str, Any] | None, user_id: int) -> ChatUser:
        return cls(id=user_id) if d is None else cls(id=user_id, name=d["name"], email=d["email"])


@dataclass(frozen=True, kw_only=True)
class Reaction:
    emoji: str
    user_id: int
    name: str = ""
    email: str = ""
    created_at: datetime | None = None

    def data(self) -> dict[str, Any]:
        """Ours (`emoji`, `user_id`) and S2's (`user{}`, `created_at`)."""
        return {
            "emoji": self.emoji,
            "user_id": self.user_id,
            "user": ChatUser(id=self.user_id, name=self.name, email=self.email).data(),
            "created_at": text_time(self.created_at),
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Reaction:
        user = ChatUser.from_data(d.get("user"), d["user_id"])
        return cls(
            emoji=d["emoji"],
            user_id=d["user_id"],
            name=user.name,
            email=user.email,
            created_at=read_time(d.get("created_at")),
        )


@dataclass(frozen=True, kw_only=True)
class ChatMessageView:
    """A chat message as events and the API carry it (before the per-reader previews)."""

    id: int
    room_id: int
    author_id: int
    kind: str
    body: str
    is_edited: bool
    edited_at: datetime | None
    created_at: datetime
    file: ChatFile | None
    reactions: tuple[Reaction, ...]
    ticket_refs: tuple[TicketRef, ...]
    author: ChatUser  # the author's name and email too (desk.chat.events.message_view)

    def data(self) -> dict[str, Any]:
        """With `ticket_refs`, as webhooks get it; a reader gets `for_reader`'s view."""
        return {**self.shared_data(), "ticket_refs": [t.data() for t in self.ticket_refs]}

    def shared_data(self) -> dict[str, Any]:
        """Everything but the ticket references: the same for every reader."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "author_id": self.author_id,
            "kind": self.kind,
            "body": self.body,
            "is_edited": self.is_edited,
            "edited_at": text_time(self.edited_at),
            "created_at": text_time(self.created_at),
            "file": None if self.file is None else self.file.data(),
            "reactions": [r.data() for r in self.reactions],
            **self.seed_data(),
        }

    def seed_data(self) -> dict[str, Any]:
        """The same message under S2's names (its `ChatMessage` type), next to ours."""
        file = self.file
        return {
            "room": self.room_id,
            "user": self.author.data(),
            "content": self.body,
            "type": self.kind,
            "attachment_url": None if file is None else file.url,
            "attachment_name": None if file is None else file.name,
            "attachment_size": None if file is None else file.size,
            "updated_at": text_time(self.edited_at or self.created_at),
        }

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Self:
        return cls(
            id=d["id"],
            room_id=d["room_id"],
            author_id=d["author_id"],
            kind=d["kind"],
            body=d["body"],
            is_edited=d["is_edited"],
            edited_at=read_time(d["edited_at"]),
            created_at=must_time(d["created_at"]),
            file=None if d["file"] is None else ChatFile(**d["file"]),
            reactions=tuple(Reaction.from_data(r) for r in d["reactions"]),
            ticket_refs=tuple(TicketRef(**t) for t in d["ticket_refs"]),
            author=ChatUser.from_data(d.get("user"), d["author_id"]),
        )


@dataclass(frozen=True, kw_only=True)
class ChatEvent(Event):
    """Any event in a room: it goes to the room's sockets whose user is a participant."""

    room_id: int
    participant_ids: tuple[int, ...]

    @property
    def kind(self) -> str:
        """The name without `chat.`: what the chat socket's frames call it."""
        return self.type.removeprefix("chat.")

    def still_in_room(self) -> Sequence[int]:
        """Who stays in the room after this event (the others' sockets on it close)."""
        return self.participant_ids

    def data(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "participant_ids": list(self.participant_ids)}

    @classmethod
    def room_fields(cls, data: Mapping[str, Any], id: str, at: datetime) -> dict[str, Any]:
        """The fields every chat event has, from the wire."""
        return {
            "id": id,
            "at": at,
            "room_id": data["room_id"],
            "participant_ids": tuple(data["participant_ids"]),
        }


@dataclass(frozen=True, kw_only=True)
class ChatMessageEvent(ChatEvent):
    """A chat event carrying a whole message (new, edited, or mentioning someone)."""

    message: ChatMessageView

    def data(self) -> dict[str, Any]:
        return {**super().data(), "message": self.message.data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        message = ChatMessageView.from_data(data["message"])
        return cls(**cls.room_fields(data, id, at), message=message)


@dataclass(frozen=True, kw_only=True)
class ChatMessageNew(ChatMessageEvent):
    type = "chat.message_new"


@dataclass(frozen=True, kw_only=True)
class ChatMessageEdited(ChatMessageEvent):
    type = "chat.message_edited"


@dataclass(frozen=True, kw_only=True)
class ChatMention(ChatMessageEvent):
    """`@name` in a message: told to that participant on their notifications socket."""

    type = "chat.mention"
    user_id: int

    def data(self) -> dict[str, Any]:
        room = ChatEvent.data(self)  # the mentioned user comes before the message
        return {**room, "user_id": self.user_id, "message": self.message.data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        message = ChatMessageView.from_data(data["message"])
        return cls(**cls.room_fields(data, id, at), user_id=data["user_id"], message=message)


@dataclass(frozen=True, kw_only=True)
class ChatMessageDeleted(ChatEvent):
    type = "chat.message_deleted"
    message_id: int

    def data(self) -> dict[str, Any]:
        return {**super().data(), "message_id": self.message_id}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(**cls.room_fields(data, id, at), message_id=data["message_id"])


@dataclass(frozen=True, kw_only=True)
class ReactionEvent(ChatEvent):
    message_id: int
    user_id: int
    emoji: str
    user: ChatUser  # who reacted, with name and email (S2's frames show them)

    def data(self) -> dict[str, Any]:
        return {
            **super().data(),
            "message_id": self.message_id,
            "user_id": self.user_id,
            "emoji": self.emoji,
            "user": self.user.data(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            **cls.room_fields(data, id, at),
            message_id=data["message_id"],
            user_id=data["user_id"],
            emoji=data["emoji"],
            user=ChatUser.from_data(data.get("user"), data["user_id"]),
        )


@dataclass(frozen=True, kw_only=True)
class ReactionAdded(ReactionEvent):
    """Also carries the new reaction as S2's `reaction_added` frame has it."""

    type = "chat.reaction_added"

    def data(self) -> dict[str, Any]:
        reaction = {"user": self.user.data(), "emoji": self.emoji, "created_at": text_time(self.at)}
        return {**super().data(), "reaction": reaction}


@dataclass(frozen=True, kw_only=True)
class ReactionRemoved(ReactionEvent):
    type = "chat.reaction_removed"


@dataclass(frozen=True, kw_only=True)
class UserEvent(ChatEvent):
    """Someone typing in or joining the room."""

    user_id: int

    def data(self) -> dict[str, Any]:
        return {**super().data(), "user_id": self.user_id}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(**cls.room_fields(data, id, at), user_id=data["user_id"])


@dataclass(frozen=True, kw_only=True)
class UserTyping(UserEvent):
    """Said to the room's sockets only: never stored, never resumed, never a webhook.
    `is_typing` false: stopped (S2's front end clears its indicator)."""

    type = "chat.user_typing"
    stored = False
    is_typing: bool = True

    def data(self) -> dict[str, Any]:
        return {**super().data(), "is_typing": self.is_typing}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            **cls.room_fields(data, id, at),
            user_id=data["user_id"],
            is_typing=data.get("is_typing", True),
        )


@dataclass(frozen=True, kw_only=True)
class UserJoined(UserEvent):
    """`user`: who joined, with name and email (S2's `user_joined` frame shows them)."""

    type = "chat.user_joined"
    user: ChatUser

    def data(self) -> dict[str, Any]:
        return {**super().data(), "user": self.user.data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        user = ChatUser.from_data(data.get("user"), data["user_id"])
        return cls(**cls.room_fields(data, id, at), user_id=data["user_id"], user=user)


@dataclass(frozen=True, kw_only=True)
class UserLeft(ChatEvent):
    """The leaver is still among `participant_ids` (they hear it), not among `remaining`."""

    type = "chat.user_left"
    user_id: int
    remaining: tuple[int, ...]
    user: ChatUser  # as in UserJoined

    def still_in_room(self) -> Sequence[int]:
        return self.remaining

    def data(self) -> dict[str, Any]:
        return {
            **super().data(),
            "user_id": self.user_id,
            "remaining": list(self.remaining),
            "user": self.user.data(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(
            **cls.room_fields(data, id, at),
            user_id=data["user_id"],
            remaining=tuple(data["remaining"]),
            user=ChatUser.from_data(data.get("user"), data["user_id"]),
        )


@dataclass(frozen=True, kw_only=True)
class RoomDeleted(ChatEvent):
    """Everyone hears it, then every socket on the room closes."""

    type = "chat.room_deleted"

    def still_in_room(self) -> Sequence[int]:
        return ()

    def data(self) -> dict[str, Any]:
        return {**super().data(), "remaining": []}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, id: str, at: datetime) -> Self:
        return cls(**cls.room_fields(data, id, at))
