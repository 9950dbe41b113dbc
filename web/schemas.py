"""Request bodies and query strings, validated by pydantic before any handler logic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from desk.models import Priority, Role, Status
from desk.tickets.queries import ORDERINGS

# Row ids are 32-bit integers on PostgreSQL (64-bit on SQLite): a larger number names no row
# and would fail in the database driver, so it is refused here with the field named.
ROW_ID_MAX = 2**31 - 1


def is_digits(text: str) -> bool:
    """Whether `text` is a number written in ASCII digits: the one rule for ids and counts
    in paths, query strings and forms (str.isdigit() and int() also take fullwidth,
    Arabic-Indic or superscript digits)."""
    return text.isascii() and text.isdigit()


def row_id(text: str) -> int | None:
    """The row id written in `text` (ASCII digits, 1 to ROW_ID_MAX), or None: for paths,
    sockets and forms, which answer "no such thing" or a 400 rather than send the
    database a number its id columns cannot hold."""
    if not is_digits(text) or len(text) > 10 or not 0 < int(text) <= ROW_ID_MAX:
        return None
    return int(text)


def _ascii_number(value: Any) -> Any:
    """A number given as text (a query string) is read by `is_digits`: not "+1", " 1",
    "1_0" or "1.0", which int() and pydantic's lax mode accept."""
    if isinstance(value, str) and not is_digits(value):
        raise ValueError("must be a number written in the digits 0-9")
    return value


RowId = Annotated[int, BeforeValidator(_ascii_number), Field(ge=1, le=ROW_ID_MAX)]
# A row id in a JSON body where `true` or "3" must not pass for a number.
StrictRowId = Annotated[StrictInt, Field(ge=1, le=ROW_ID_MAX)]


def _in_utc(value: datetime) -> datetime:
    """Every time is kept in UTC; 9999-12-31T23:59-23:59 has no UTC form (year 10000)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("this time is out of range once given in UTC") from None


# A time with its offset, as the filters take them; refused with the field named when it
# cannot be written in UTC (it would fail in the database driver otherwise).
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL's text cannot hold U+0000 (SQLite's can): refused on both, by name."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain the NUL character (U+0000)")
        return value


def same_under_both_names(model: BaseModel, *pairs: tuple[str, str]) -> None:
    """A field a front end names otherwise (S1's `otp` for `code`, S2's `content` for
    `body`) may be given under either name, or both when they agree; two different values
    are refused with both names, never one of them picked in silence."""
    for ours, theirs in pairs:
        a, b = getattr(model, ours), getattr(model, theirs)
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"{ours} and {theirs} are two names of one field and differ here; give one"
            )


class TokenRequest(Strict):
    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, max_length=320)
    password: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_login(self) -> TokenRequest:
        if self.email and self.username and self.email.lower() != self.username.lower():
            raise ValueError("email and username are two names of one field and differ here")
        if not (self.email or self.username):
            raise ValueError("give email (or username)")
        return self

    @property
    def login(self) -> str:
        return (self.email or self.username or "").lower()


class EraseConfirm(Strict):
    """Erasing a customer cannot be undone: the caller repeats the customer's address."""

    confirm: str = Field(max_length=320)


class RefreshRequest(Strict):
    refresh: str = Field(min_length=1, max_length=4096)


class AvailabilityUpdate(Strict):
    is_available: bool | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=10)


class MeUpdate(Strict):
    name: str | None = Field(default=None, max_length=200)
    notify_on_reply: bool | None = None


class OtpRequest(Strict):
    email: str = Field(min_length=3, max_length=320)


class OtpVerify(Strict):
    """`otp` is the same as `code` (the name S1's front end sends)."""

    email: str = Field(min_length=3, max_length=320)
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    otp: str | None = Field(default=None, pattern=r"^[0-9]{6}$")

    @model_validator(mode="after")
    def _one_code(self) -> OtpVerify:
        same_under_both_names(self, ("code", "otp"))
        if (self.code or self.otp) is None:
            raise ValueError("give the code (as code or otp)")
        return self

    @property
    def given(self) -> str:
        return self.code or self.otp or ""


class GoogleSignIn(Strict):
    """The ID token Google Identity Services gave the browser (its `credential`)."""

    id_token: str = Field(min_length=20, max_length=8192)


class Register(Strict):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    name: str = Field(default="", max_length=200)
    verification_token: str = Field(min_length=10, max_length=200)


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320)
    role: Role
    name: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class UserUpdate(Strict):
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    company_id: RowId | None = None
    is_company_admin: bool | None = None
    is_available: bool | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)
    notify_on_reply: bool | None = None


class UserListQuery(Strict):
    role: Role | None = None
    is_active: bool | None = None
    company: RowId | None = None
    search: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class CompanyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(default_factory=list, max_length=50)


class CompanyUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    domains: list[str] | None = Field(default=None, max_length=50)


# One recipient as staff give it: `rosa@example.com` or `Rosa Lind <rosa@example.com>`;
# desk/tickets/participants.py checks it strictly (no line breaks, one plain address).
Recipient = Annotated[str, Field(min_length=3, max_length=520)]


def form_list(cls: type[BaseModel], value: object) -> object:
    """A form field is one string: addresses separated by commas. An empty one changes
    nothing (a form sends its fields whether filled in or not); JSON `[]` empties a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()] or None
    return value


class MessageCreate(Strict):
    """JSON, or multipart/form-data with these fields and `files` parts. `to` and `cc`
    (a public reply by staff only) set who the reply goes to, for it and later replies;
    in a form they are comma-separated."""

    body: str = Field(min_length=1, max_length=100_000)
    is_internal: bool = False
    to: list[Recipient] | None = Field(default=None, max_length=50)
    cc: list[Recipient] | None = Field(default=None, max_length=50)
    # Then move the ticket, in the same action ("Send and resolve"): as set-status, and the
    # reply's recipients get no separate mail about the status.
    status: Status | None = None

    _form_lists = field_validator("to", "cc", mode="before")(classmethod(form_list))


class TicketCreate(Strict):
    """JSON, or multipart/form-data with these fields and `files` parts. Staff give the
    customer's email (the ticket is opened on their behalf); customers open their own."""

    subject: str = Field(min_length=1, max_length=998)
    description: str = Field(min_length=1, max_length=100_000)
    priority: Priority = Priority.MEDIUM
    customer_email: str | None = Field(default=None, max_length=320)
    # Staff only: people copied on the conversation from its first mail (as in replies).
    cc: list[Recipient] | None = Field(default=None, max_length=50)

    _form_lists = field_validator("cc", mode="before")(classmethod(form_list))
    queue: RowId | None = None  # staff: one of their queues; the default queue otherwise


class TicketUpdate(Strict):
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    priority: Priority | None = None
    tags: (
        list[Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f]+$")]] | None
    ) = Field(default=None, max_length=20)


class StatusChange(Strict):
    status: Status


class Assignment(Strict):
    """`null` unassigns."""

    assigned_agent: RowId | None


class TicketFilters(Strict):
    """The ticket list's filters and order (the list, search and the CSV export take them):
    `status` and `priority` take one value or several separated by commas."""

    status: list[Status] = Field(default_factory=list)
    priority: list[Priority] = Field(default_factory=list)
    assigned_agent: RowId | None = None
    unassigned: bool = False
    tag: str | None = Field(default=None, max_length=50)
    customer: RowId | None = None
    company: RowId | None = None
    queue: RowId | None = None
    column: RowId | None = None  # a board column: tickets whose card is in it (staff)
    created_after: UtcTime | None = None
    created_before: UtcTime | None = None
    updated_after: UtcTime | None = None
    updated_before: UtcTime | None = None
    archived: Literal["false", "true", "all"] = "false"
    ordering: Literal[tuple(ORDERINGS)] = "-updated_at"  # type: ignore[valid-type]

    @field_validator("status", "priority", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [v for v in value.split(",") if v] if isinstance(value, str) else value


class TicketListQuery(TicketFilters):
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class CsvQuery(Strict):
    """A CSV download: UTF-8, without a byte order mark unless `bom=true` (what Excel
    needs to read UTF-8; other tools take the file as it is)."""

    format: Literal["csv"] = "csv"
    bom: bool = False


class TicketExportQuery(TicketFilters, CsvQuery):
    """The list's filters and order, every matching ticket (up to 100,000)."""


class TimeExportQuery(CsvQuery):
    """Entries worked on from `since` to `until` (YYYY-MM-DD, both included), by `agent`,
    on `queue`'s tickets or on one `ticket`."""

    since: date | None = None
    until: date | None = None
    agent: RowId | None = None
    queue: RowId | None = None
    ticket: RowId | None = None

    @model_validator(mode="after")
    def _in_order(self) -> TimeExportQuery:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self


class RoomCreate(Strict):
    """`project`: a label, or a number as S2's front end sends it (kept as its digits)."""

    name: str = Field(default="", max_length=200)
    type: Literal["direct", "group"]
    participant_ids: list[RowId] = Field(default_factory=list, max_length=500)
    project: (
        Annotated[int, Field(ge=0, le=ROW_ID_MAX)] | Annotated[str, Field(max_length=100)] | None
    ) = None

    @property
    def project_label(self) -> str | None:
        return None if self.project is None else str(self.project)


class RoomListQuery(Strict):
    project: str | None = Field(default=None, max_length=100)


class ParticipantChange(Strict):
    user_id: RowId


ChatKind = Literal["text", "image", "file"]


class ChatMessageCreate(Strict):
    """JSON, or multipart/form-data with these fields and one file part (`files`, or
    `attachment` as S2's front end names it). S2's names are accepted too: `content` for
    `body`, `type` (or `message_type`) for the kind, which a file decides when there is
    one (an image is an `image`); without a file only `text` is possible."""

    room: RowId
    body: str | None = Field(default=None, max_length=10_000)
    content: str | None = Field(default=None, max_length=10_000)
    type: ChatKind | None = None
    message_type: ChatKind | None = None

    @model_validator(mode="after")
    def _one_value_each(self) -> ChatMessageCreate:
        same_under_both_names(self, ("body", "content"), ("type", "message_type"))
        return self

    @property
    def text(self) -> str:
        return self.body if self.body is not None else (self.content or "")

    @property
    def kind(self) -> ChatKind:
        return self.type or self.message_type or "text"


class ChatMessageEdit(Strict):
    """`body`, or `content` as S2's front end names it."""

    body: str | None = Field(default=None, min_length=1, max_length=10_000)
    content: str | None = Field(default=None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _text_given(self) -> ChatMessageEdit:
        if self.body is None and self.content is None:
            raise ValueError("give the new text (as body or content)")
        same_under_both_names(self, ("body", "content"))
        return self

    @property
    def text(self) -> str:
        return self.body if self.body is not None else (self.content or "")


class ReactionChange(Strict):
    emoji: str = Field(min_length=1, max_length=32)


class ChatListQuery(Strict):
    """`ordering`: `-created_at` newest first (the default), `created_at` oldest first."""

    room: RowId | None = None
    search: str | None = Field(default=None, min_length=1, max_length=200)
    ordering: Literal["-created_at", "created_at"] = "-created_at"
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class PageQuery(Strict):
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class SuppressionListQuery(PageQuery):
    """`address`: only addresses containing this text."""

    address: str | None = Field(default=None, max_length=320)


class WebhookCreate(Strict):
    """`events`: event types (see docs/webhooks.md), a family such as `ticket.*`, or `*`.
    `secret`: leave it out to have one made (`whsec_...`, shown once)."""

    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=50)
    secret: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=200)
    is_active: bool = True


class WebhookUpdate(Strict):
    """Turning a disabled webhook back on clears its failure record; `rotate_secret` makes a
    new secret, shown in this answer only."""

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    rotate_secret: bool | None = None


class ReportQuery(Strict):
    format: Literal["json", "csv"] = "json"
    queue: RowId | None = None  # one queue's tickets; what a queue's managers may read


class VolumeQuery(ReportQuery):
    days: int = Field(default=30, ge=1, le=366)


class ResolutionQuery(ReportQuery):
    """The period: `since` and `until` (ISO 8601), or the last `days` days up to now."""

    days: int = Field(default=30, ge=1, le=366)
    since: UtcTime | None = None
    until: UtcTime | None = None


class TicketSearchQuery(TicketListQuery):
    """`q` in websearch syntax: words, "a phrase", OR, -word. Archived tickets are searched
    too unless `archived=false`; `ordering` does not apply (best match first)."""

    q: str = Field(min_length=1, max_length=500)
    archived: Literal["false", "true", "all"] = "all"


QueueRoleName = Literal["superadmin", "admin", "manager", "user"]
Address = Annotated[str, Field(min_length=3, max_length=320)]


class QueueCreate(Strict):
    """`addresses`: support addresses whose mail lands in the queue; the first is the From
    of its mail."""

    name: str = Field(min_length=1, max_length=200)
    visibility: Literal["team", "assigned"] = "team"
    addresses: list[Address] = Field(default_factory=list, max_length=20)


class QueueUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    visibility: Literal["team", "assigned"] | None = None
    addresses: list[Address] | None = Field(default=None, max_length=20)
    is_default: bool | None = None


class MemberAdd(Strict):
    user_id: RowId
    role: QueueRoleName = "user"
    notify_new_tickets: bool = True
    mail_new_tickets: bool = False


class MemberUpdate(Strict):
    role: QueueRoleName | None = None
    notify_new_tickets: bool | None = None
    mail_new_tickets: bool | None = None


class TicketMove(Strict):
    """To another queue (`queue`), and/or the card to a column of the (new) queue's board:
    at `position` (0 = top, counting the cards the caller sees), or right `before` or
    `after` another card (ticket ids); none of them: the bottom."""

    queue: RowId | None = None
    column: StrictRowId | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)
    before: RowId | None = None
    after: RowId | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> TicketMove:
        if self.queue is None and self.column is None:
            raise ValueError("give the queue, or the column (or both)")
        given = [n for n in ("position", "before", "after") if getattr(self, n) is not None]
        if given and self.column is None:
            raise ValueError(f"{given[0]} places a card in a column: give the column")
        if len(given) > 1:
            raise ValueError(f"give one of position, before, after; not {' and '.join(given)}")
        return self


class ColumnCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    status: Status | None = None  # cards moved here take it; tickets taking it land here
    position: int | None = Field(default=None, ge=0, le=1000)  # 0 = leftmost; omitted: last


class ColumnUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    status: Status | None = None  # null: the column stands for no status
    position: int | None = Field(default=None, ge=0, le=1000)


class ColumnsQuery(Strict):
    """S0 names the queue `project`; either name will do."""

    project: RowId | None = None
    queue: RowId | None = None

    @model_validator(mode="after")
    def _one_queue(self) -> ColumnsQuery:
        if self.project is None and self.queue is None:
            raise ValueError("give the queue as ?project= (or ?queue=)")
        if None not in (self.project, self.queue) and self.project != self.queue:
            raise ValueError("?project= and ?queue= name the same queue; give one")
        return self

    @property
    def queue_id(self) -> int:
        return self.project or self.queue or 0


class BoardQuery(Strict):
    per_column: int = Field(default=200, ge=1, le=1000)


class StaffQuery(PageQuery):
    search: str | None = Field(default=None, max_length=200)
    queue: RowId | None = None


class CustomerQuery(PageQuery):
    search: str | None = Field(default=None, max_length=200)
    company: RowId | None = None


class TimeReportQuery(Strict):
    """The period in days, both included: `since`..`until`, or the last `days` days up to
    today (UTC). `agent` and `queue` narrow it; a queue's managers read theirs with
    `?queue=`."""

    format: Literal["json", "csv"] = "json"
    since: date | None = None
    until: date | None = None
    days: int = Field(default=30, ge=1, le=3660)
    agent: RowId | None = None
    queue: RowId | None = None


Minutes = Annotated[StrictInt, Field(ge=1, le=24 * 60)]  # not `true`, not "60"
Hours = Annotated[Decimal, Field(gt=0, le=24, max_digits=6, decimal_places=4)]
Note = Annotated[str, Field(max_length=10_000)]


class TimeEntryWork(Strict):
    """What a time entry says, under our names or S4-style ones: `minutes` or `hours`
    (decimal, rounded to the minute), `note` or `description`, `worked_on` or `date`
    (YYYY-MM-DD); at most one of each pair. `user_id`: site admins log time for someone."""

    minutes: Minutes | None = None
    hours: Hours | None = None
    note: Note | None = None
    description: Note | None = None
    worked_on: date | None = None
    on_date: date | None = Field(default=None, alias="date")
    user_id: RowId | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> TimeEntryWork:
        pairs = (("minutes", "hours"), ("note", "description"), ("worked_on", "on_date"))
        for ours, theirs in pairs:
            if getattr(self, ours) is not None and getattr(self, theirs) is not None:
                raise ValueError(f"give {ours} or {theirs.removeprefix('on_')}, not both")
        if self.hours is not None and round(self.hours * 60) < 1:
            raise ValueError("hours must come to at least one minute")
        return self

    @property
    def total_minutes(self) -> int | None:
        if self.hours is not None:
            return round(self.hours * 60)
        return self.minutes

    @property
    def text(self) -> str | None:
        return self.note if self.note is not None else self.description

    @property
    def day(self) -> date | None:
        return self.worked_on if self.worked_on is not None else self.on_date


class SavedReplyCreate(Strict):
    """`body` may name placeholders as `{{customer.name}}` (desk/saved_replies.py)."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)


class SavedReplyUpdate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)


class SavedReplyRender(Strict):
    ticket: RowId


class TicketMergeRequest(Strict):
    """The ticket this one is merged into."""

    into: RowId


class NotificationQuery(PageQuery):
    """`unread=true`: only those not read yet."""

    unread: bool = False


class InboundListQuery(PageQuery):
    """`state`: received, processed, failed, ignored, damaged (processed, but unreadable or
    with a damaged attachment) or all."""

    state: Literal["received", "processed", "failed", "ignored", "damaged", "all"] | None = None


class OutboxListQuery(PageQuery):
    """`state`: queued (not sent yet), sent, failed, suppressed (kept back: a bounced address)."""

    state: Literal["queued", "sent", "failed", "suppressed"] | None = None


class PasswordResetRequest(Strict):
    email: str = Field(min_length=3, max_length=320)


class PasswordResetConfirm(Strict):
    """`token`: from the link in the mail (an invitation or a reset)."""

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class SettingsUpdate(Strict):
    """Any of the run-time settings; null returns one to the environment's or default value
    (desk/desk_settings.py checks the values)."""

    desk_name: str | None = Field(default=None, max_length=100)
    accent_colour: str | None = Field(default=None, max_length=7)
    auto_reply_per_hour: StrictInt | None = None  # not `true`, not "5"
    archive_after_hours: StrictInt | None = None
