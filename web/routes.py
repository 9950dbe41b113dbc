"""The one route table (paths fixed by API.md). Each entry names who may call it, and the
table enforces that before the handler runs: a handler cannot forget its check, and the
OpenAPI document (web.openapi) shows the same rule. Each entry also names its request
models, so the document is generated from the same models that validate."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Literal

from pydantic import BaseModel

from web import observe
from web import schemas as s
from web.auth import CallerHandler, Handler, with_caller, with_key, with_metrics_token
from web.handlers import (
    admin,
    analytics,
    auth,
    board,
    chat,
    console,
    health,
    inbound,
    integrations,
    queues,
    tickets,
    time,
    workspace,
)


@dataclass(frozen=True)
class _Request:
    """What a route accepts, for validation and for the OpenAPI document."""

    _: KW_ONLY
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    multipart: bool = False  # the body may also come as multipart/form-data with `files`
    status: int = 200
    raw_body: tuple[str, ...] = ()  # media types of a body taken as is (no pydantic model)
    response_type: str = "application/json"  # the media type of a successful answer
    unavailable: bool = False  # may answer 503 (health checks: a part does not answer)


@dataclass(frozen=True)
class Route(_Request):
    """An endpoint for a signed-in person (`user`) or an admin (`admin`): the table checks
    the access token (and the role) and hands the caller to the handler."""

    method: str
    path: str
    handler: CallerHandler
    summary: str
    _: KW_ONLY
    access: Literal["user", "admin"] = "user"
    # An integration's API key with this scope may call it too, acting as the key's own
    # account (desk.auth.api_keys.key_account); empty: people only.
    key_scope: str = ""

    def endpoint(self) -> Handler:
        return with_caller(self.handler, admin=self.access == "admin", key_scope=self.key_scope)


@dataclass(frozen=True)
class PlainRoute(_Request):
    """An endpoint whose handler takes the request alone: open to anyone (`none`), for an
    integration's API key with `scope` (`api_key`, checked by the table), or for a mail
    provider (`signature`: its own signature over the form, which only the handler reads,
    so the handler checks it before anything else)."""

    method: str
    path: str
    handler: Handler
    summary: str
    _: KW_ONLY
    access: Literal["none", "api_key", "signature", "metrics_token"]
    scope: str = ""

    def __post_init__(self) -> None:
        if (self.access == "api_key") != bool(self.scope):
            raise ValueError(f"{self.path}: a scope goes with access='api_key', and only there")

    def endpoint(self) -> Handler:
        if self.access == "metrics_token":  # Prometheus scrapes with a token of its own
            return with_metrics_token(self.handler)
        return with_key(self.handler, self.scope) if self.access == "api_key" else self.handler


AnyRoute = Route | PlainRoute
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
READ, WRITE = "tickets:read", "tickets:write"  # what an API key needs on the ticket routes
T = "/api/tickets/{id}/"
W = "/api/webhooks/{id}/"
Q = "/api/queues/{id}/"
C = "/api/chat/rooms/"
M = "/api/chat/messages/"
SR = "/api/saved-replies/"
ROUTES: tuple[AnyRoute, ...] = (
    PlainRoute(
        "GET",
        "/healthz",
        health.healthz,
        "Liveness: the database answers",
        access="none",
        unavailable=True,
    ),
    PlainRoute(
        "GET",
        "/readyz",
        health.readyz,
        "Readiness: the database answers at the latest migration (and Redis, if configured)",
        access="none",
        unavailable=True,
    ),
    PlainRoute(
        "GET",
        "/metrics",
        observe.metrics_endpoint,
        "This process's metrics, Prometheus text format (bearer: POSTDESK_METRICS_TOKEN)",
        access="metrics_token",
        response_type="text/plain",
    ),
    PlainRoute(
        "POST",
        "/api/auth/token/",
        auth.obtain_token,
        "Log in: an access and a refresh token",
        access="none",
        body=s.TokenRequest,
    ),
    PlainRoute(
        "POST",
        "/api/auth/google/",
        auth.google_sign_in,
        "Log in with a Google ID token: an access and a refresh token",
        access="none",
        body=s.GoogleSignIn,
    ),
    PlainRoute(
        "POST",
        "/api/auth/token/refresh/",
        auth.refresh_token,
        "Rotate the refresh token",
        access="none",
        body=s.RefreshRequest,
    ),
    PlainRoute(
        "POST",
        "/api/auth/logout/",
        auth.logout,
        "End the session",
        access="none",
        body=s.RefreshRequest,
    ),
    PlainRoute(
        "POST",
        "/api/auth/request-otp/",
        auth.request_otp,
        "Mail a sign-up code",
        access="none",
        body=s.OtpRequest,
        status=202,
    ),
    PlainRoute(
        "POST",
        "/api/auth/verify-otp/",
        auth.verify_otp,
        "Trade a code for a verification token",
        access="none",
        body=s.OtpVerify,
    ),
    PlainRoute(
        "POST",
        "/api/auth/register/",
        auth.register_account,
        "Create or claim a customer account",
        access="none",
        body=s.Register,
        status=201,
    ),
    PlainRoute(
        "POST",
        "/api/auth/password-reset/",
        auth.password_reset,
        "Mail a link to set a new password (the same answer whether or not the address "
        "has an account; rationed per address and client)",
        access="none",
        body=s.PasswordResetRequest,
        status=202,
    ),
    PlainRoute(
        "POST",
        "/api/auth/password-reset/confirm/",
        auth.password_reset_confirm,
        "Set a password with a link's token (invitation or reset); once, before it expires",
        access="none",
        body=s.PasswordResetConfirm,
    ),
    Route("GET", "/api/me/", auth.me, "The caller's account"),
    Route(
        "PATCH",
        "/api/me/",
        auth.me,
        "Edit the caller's name and notification choice",
        body=s.MeUpdate,
    ),
    Route("GET", "/api/me/availability/", auth.availability, "Staff availability"),
    Route(
        "POST",
        "/api/me/availability/",
        auth.availability,
        "Set staff availability",
        body=s.AvailabilityUpdate,
    ),
    Route(
        "GET",
        "/api/admin/users/",
        admin.users_list,
        "List accounts",
        access="admin",
        query=s.UserListQuery,
    ),
    Route(
        "POST",
        "/api/admin/users/",
        admin.users_create,
        "Create an account",
        access="admin",
        body=s.UserCreate,
        status=201,
    ),
    Route("GET", "/api/admin/users/{id}/", admin.users_get, "One account", access="admin"),
    Route(
        "PATCH",
        "/api/admin/users/{id}/",
        admin.users_update,
        "Edit or deactivate an account",
        access="admin",
        body=s.UserUpdate,
    ),
    Route(
        "POST",
        "/api/admin/users/{id}/erase/",
        admin.users_erase,
        "Erase a customer's personal data (tickets stay, anonymized; audited)",
        access="admin",
    ),
    Route(
        "POST",
        "/api/admin/users/{id}/invite/",
        admin.users_invite,
        "Mail a staff member a single-use link to set their password (audited)",
        access="admin",
        status=202,
    ),
    Route(
        "POST",
        "/api/admin/users/{id}/unlock/",
        admin.users_unlock,
        "Lift an account's failed-login lockout (audited)",
        access="admin",
    ),
    Route("GET", "/api/admin/companies/", admin.companies_list, "List companies", access="admin"),
    Route(
        "POST",
        "/api/admin/companies/",
        admin.companies_create,
        "Create a company and map its email domains",
        access="admin",
        body=s.CompanyCreate,
        status=201,
    ),
    Route("GET", "/api/admin/companies/{id}/", admin.companies_get, "One company", access="admin"),
    Route(
        "PATCH",
        "/api/admin/companies/{id}/",
        admin.companies_update,
        "Rename a company or remap its domains",
        access="admin",
        body=s.CompanyUpdate,
    ),
    Route(
        "GET",
        "/api/admin/suppressions/",
        admin.suppressions_list,
        "Addresses automatic mail is not sent to after a bounce (in force now, newest first)",
        access="admin",
        query=s.SuppressionListQuery,
    ),
    Route(
        "DELETE",
        "/api/admin/suppressions/{id}/",
        admin.suppressions_lift,
        "Lift a suppression: automatic mail goes to the address again",
        access="admin",
        status=204,
    ),
    Route(
        "GET",
        "/api/admin/inbound/",
        console.inbound_list,
        "Stored inbound mail, failed and damaged first, each with its state and reason",
        access="admin",
        query=s.InboundListQuery,
    ),
    Route(
        "GET",
        "/api/admin/inbound/{id}/",
        console.inbound_get,
        "One stored mail: headers, raw source, what it became, the threading rule, the reason",
        access="admin",
    ),
    Route(
        "POST",
        "/api/admin/inbound/{id}/retry/",
        console.inbound_retry,
        "Process a stored mail again (not one processed already)",
        access="admin",
        status=202,
    ),
    Route(
        "POST",
        "/api/admin/inbound/retry-failed/",
        console.inbound_retry_failed,
        "Process every failed mail again",
        access="admin",
        status=202,
    ),
    Route(
        "GET",
        "/api/admin/outbox/",
        console.outbox_list,
        "Outgoing mail, newest first: state, error, next attempt",
        access="admin",
        query=s.OutboxListQuery,
    ),
    Route(
        "POST",
        "/api/admin/outbox/{id}/retry/",
        console.outbox_retry,
        "Send a failed mail again, now",
        access="admin",
        status=202,
    ),
    Route(
        "GET",
        "/api/admin/settings/",
        console.settings,
        "Run-time settings: values, where each comes from, which the environment locks",
        access="admin",
    ),
    Route(
        "PATCH",
        "/api/admin/settings/",
        console.settings,
        "Change run-time settings (null: back to the environment's or default value; audited)",
        access="admin",
        body=s.SettingsUpdate,
    ),
    Route(
        "PUT",
        "/api/admin/settings/logo/",
        console.logo_upload,
        "Upload the logo: a PNG, JPEG, GIF or WebP image of at most 256 KiB as the body",
        access="admin",
        raw_body=IMAGES,
    ),
    Route(
        "DELETE",
        "/api/admin/settings/logo/",
        console.logo_remove,
        "Remove the logo",
        access="admin",
        status=204,
    ),
    PlainRoute(
        "GET",
        "/api/branding/logo/",
        console.logo,
        "The desk's logo (404 when there is none)",
        access="none",
        response_type="image/png",
    ),
    Route("GET", "/api/admin/api-keys/", admin.api_keys_list, "List API keys", access="admin"),
    Route(
        "POST",
        "/api/admin/api-keys/",
        admin.api_keys_create,
        "Create an API key (shown once)",
        access="admin",
        body=s.ApiKeyCreate,
        status=201,
    ),
    Route(
        "DELETE",
        "/api/admin/api-keys/{id}/",
        admin.api_keys_revoke,
        "Revoke an API key",
        access="admin",
        status=204,
    ),
    Route(
        "GET",
        "/api/tickets/search/",
        tickets.ticket_search,
        "Full-text search over subjects, messages and customers",
        query=s.TicketSearchQuery,
        key_scope=READ,
    ),
    Route(
        "GET",
        "/api/tickets/export/",
        tickets.ticket_list_export,
        "The list's tickets with its filters and order, as CSV, streamed (staff)",
        query=s.TicketExportQuery,
        response_type="text/csv",
    ),
    Route(
        "GET",
        "/api/tickets/columns/",
        board.columns_list,
        "A queue's board columns at S0's path, ?project= (or ?queue=) (staff)",
        query=s.ColumnsQuery,
    ),
    Route(
        "GET",
        "/api/tickets/",
        tickets.ticket_list,
        "Tickets the caller may see",
        query=s.TicketListQuery,
        key_scope=READ,
    ),
    Route(
        "POST",
        "/api/tickets/",
        tickets.ticket_create,
        "Open a ticket",
        body=s.TicketCreate,
        multipart=True,
        status=201,
        key_scope=WRITE,
    ),
    Route(
        "GET",
        T,
        tickets.ticket_get,
        "A ticket with the messages the caller may see",
        key_scope=READ,
    ),
    Route(
        "PATCH",
        T,
        tickets.ticket_update,
        "Edit subject, priority, tags (staff)",
        body=s.TicketUpdate,
        key_scope=WRITE,
    ),
    Route(
        "DELETE",
        T,
        tickets.ticket_delete,
        "Delete the ticket with its messages, files, history and time (audited; ids are "
        "never given again)",
        access="admin",
        status=204,
    ),
    Route("GET", T + "time/", time.entries_list, "The time logged on the ticket (staff)"),
    Route(
        "POST",
        T + "time/",
        time.entry_create,
        "Log time on the ticket (staff)",
        body=s.TimeEntryWork,
        status=201,
    ),
    Route(
        "GET",
        "/api/time/export/",
        time.entries_export,
        "Time entries the caller may see, as CSV, streamed (staff)",
        query=s.TimeExportQuery,
        response_type="text/csv",
    ),
    Route(
        "PATCH",
        "/api/time/{id}/",
        time.entry_update,
        "Correct a time entry (its author, or an admin)",
        body=s.TimeEntryWork,
    ),
    Route(
        "DELETE",
        "/api/time/{id}/",
        time.entry_delete,
        "Delete a time entry (its author, or an admin)",
        status=204,
    ),
    Route(
        "POST",
        T + "messages/",
        tickets.message_create,
        "Reply or add an internal note",
        body=s.MessageCreate,
        multipart=True,
        status=201,
        key_scope=WRITE,
    ),
    Route(
        "POST",
        T + "set-status/",
        tickets.ticket_set_status,
        "Move the ticket's status",
        body=s.StatusChange,
        key_scope=WRITE,
    ),
    Route(
        "POST",
        T + "assign/",
        tickets.ticket_assign,
        "Assign or unassign",
        body=s.Assignment,
        key_scope=WRITE,
    ),
    Route(
        "POST",
        T + "archive/",
        tickets.ticket_archive,
        "Archive a finished ticket (staff)",
        key_scope=WRITE,
    ),
    Route(
        "POST",
        T + "unarchive/",
        tickets.ticket_unarchive,
        "Bring a ticket back (staff)",
        key_scope=WRITE,
    ),
    Route(
        "GET", T + "history/", tickets.ticket_history_list, "Who changed what, when", key_scope=READ
    ),
    Route(
        "POST",
        T + "ai-draft/",
        tickets.ai_draft,
        "A reply draft from Gemini (agents and admins; nothing is sent)",
    ),
    Route(
        "POST",
        T + "move/",
        queues.ticket_move,
        "Move the ticket to another queue (a manager of its queue who works in the other) "
        "and/or its card to a board column (members of its queue)",
        body=s.TicketMove,
    ),
    Route(
        "POST",
        T + "merge/",
        workspace.ticket_merge,
        "Merge the ticket into another: messages, participants and history move (staff "
        "who work both)",
        body=s.TicketMergeRequest,
    ),
    Route(
        "POST",
        T + "unmerge/",
        workspace.ticket_unmerge,
        "Undo the ticket's merge, within a minute of it (staff who work both)",
    ),
    Route(
        "GET",
        T + "merge-suggestions/",
        workspace.merge_suggestions,
        "The same customer's tickets opened within 72 hours of this one (staff)",
    ),
    Route("GET", SR, workspace.replies_list, "The team's saved replies (staff)"),
    Route(
        "POST",
        SR,
        workspace.reply_create,
        "Save a reply for the team (staff)",
        body=s.SavedReplyCreate,
        status=201,
    ),
    Route("GET", SR + "{id}/", workspace.reply_get, "One saved reply (staff)"),
    Route(
        "PATCH",
        SR + "{id}/",
        workspace.reply_update,
        "Edit a saved reply (its author or an admin)",
        body=s.SavedReplyUpdate,
    ),
    Route(
        "DELETE",
        SR + "{id}/",
        workspace.reply_delete,
        "Delete a saved reply (its author or an admin)",
        status=204,
    ),
    Route(
        "GET",
        SR + "{id}/render/",
        workspace.reply_render,
        "The reply with its placeholders filled in for a ticket the caller may see (staff)",
        query=s.SavedReplyRender,
    ),
    Route(
        "GET",
        "/api/notifications/",
        workspace.notifications_list,
        "The caller's notifications, newest first (?unread=true: unread only)",
        query=s.NotificationQuery,
    ),
    Route(
        "POST",
        "/api/notifications/{id}/read/",
        workspace.notification_read,
        "Mark one of the caller's notifications read",
    ),
    Route(
        "POST",
        "/api/notifications/read-all/",
        workspace.notifications_read_all,
        "Mark all the caller's notifications read",
    ),
    Route("GET", "/api/queues/", queues.queues_list, "Every queue, with the caller's role (staff)"),
    Route(
        "POST",
        "/api/queues/",
        queues.queue_create,
        "Make a queue (site admins)",
        access="admin",
        body=s.QueueCreate,
        status=201,
    ),
    Route("GET", Q, queues.queue_get, "One queue (staff)"),
    Route(
        "PATCH",
        Q,
        queues.queue_update,
        "Name, addresses, visibility (queue admins); the default queue (site admins)",
        body=s.QueueUpdate,
    ),
    Route(
        "DELETE",
        Q,
        queues.queue_delete,
        "Delete an empty queue that is not the default (queue superadmins)",
        status=204,
    ),
    Route("GET", Q + "members/", queues.members_list, "The queue's members and roles (staff)"),
    Route(
        "POST",
        Q + "members/",
        queues.member_add,
        "Add a member with a role (queue admins)",
        body=s.MemberAdd,
        status=201,
    ),
    Route(
        "PATCH",
        Q + "members/{user}/",
        queues.member_update,
        "A member's role (queue admins) or notification wishes (the member too)",
        body=s.MemberUpdate,
    ),
    Route(
        "DELETE",
        Q + "members/{user}/",
        queues.member_remove,
        "Remove a member (queue admins), or leave",
        status=204,
    ),
    Route(
        "GET",
        Q + "board/",
        board.board_get,
        "The kanban board: columns with the cards the caller may see (staff)",
        query=s.BoardQuery,
    ),
    Route(
        "POST",
        Q + "columns/",
        board.column_create,
        "Add a board column (queue admins)",
        body=s.ColumnCreate,
        status=201,
    ),
    Route(
        "PATCH",
        Q + "columns/{c}/",
        board.column_update,
        "Rename, map to a status, reorder a column (queue admins)",
        body=s.ColumnUpdate,
    ),
    Route(
        "DELETE",
        Q + "columns/{c}/",
        board.column_delete,
        "Delete a column; its cards go to their status's column (queue admins)",
        status=204,
    ),
    Route(
        "GET",
        "/api/staff/",
        queues.staff_list,
        "Colleagues: names, availability, queues (staff)",
        query=s.StaffQuery,
    ),
    Route(
        "GET",
        "/api/customers/",
        queues.customers_list,
        "Customers with their companies, ?search= (staff)",
        query=s.CustomerQuery,
    ),
    Route(
        "GET",
        "/api/attachments/{id}/",
        tickets.attachment_download,
        "Download an attachment the caller may see",
        key_scope=READ,
    ),
    Route(
        "GET",
        "/api/chat/rooms/",
        chat.rooms_list,
        "The caller's rooms, with unread counts",
        query=s.RoomListQuery,
    ),
    Route(
        "POST",
        "/api/chat/rooms/",
        chat.room_create,
        "Open a group room, or the direct room with someone (found again if it exists)",
        body=s.RoomCreate,
        status=201,
    ),
    Route("GET", C + "{id}/", chat.room_get, "One room the caller is in"),
    Route("DELETE", C + "{id}/", chat.room_delete, "Delete a room (creator or admin)", status=204),
    Route(
        "POST",
        C + "{id}/add_participant/",
        chat.room_add,
        "Add someone (creator or admin)",
        body=s.ParticipantChange,
    ),
    Route(
        "POST",
        C + "{id}/remove_participant/",
        chat.room_remove,
        "Remove someone (creator or admin)",
        body=s.ParticipantChange,
    ),
    Route("POST", C + "{id}/mark_read/", chat.room_mark_read, "Everything read up to now"),
    Route(
        "GET",
        "/api/chat/messages/",
        chat.messages_list,
        "Messages of a room, or search across the caller's rooms",
        query=s.ChatListQuery,
    ),
    Route(
        "POST",
        "/api/chat/messages/",
        chat.message_create,
        "Send a message (text, image or file)",
        body=s.ChatMessageCreate,
        multipart=True,
        status=201,
    ),
    Route(
        "PATCH", M + "{id}/", chat.message_edit, "Edit one's own message", body=s.ChatMessageEdit
    ),
    Route(
        "DELETE", M + "{id}/", chat.message_delete, "Delete a message (author or admin)", status=204
    ),
    Route("POST", M + "{id}/add_reaction/", chat.reaction_add, "React", body=s.ReactionChange),
    Route(
        "POST",
        M + "{id}/remove_reaction/",
        chat.reaction_remove,
        "Take a reaction back",
        body=s.ReactionChange,
    ),
    Route("GET", M + "{id}/file/", chat.message_file, "Download a message's file"),
    Route(
        "GET",
        "/api/analytics/summary/",
        analytics.summary,
        "Counts by status and priority, backlog, unassigned (site admins; a queue's "
        "managers with ?queue=)",
        query=s.ReportQuery,
    ),
    Route(
        "GET",
        "/api/analytics/volume/",
        analytics.volume,
        "Tickets created and resolved per day (site admins; a queue's managers with ?queue=)",
        query=s.VolumeQuery,
    ),
    Route(
        "GET",
        "/api/analytics/resolution/",
        analytics.resolution,
        "Time to resolve and to first response, per agent and overall (site admins; a "
        "queue's managers with ?queue=)",
        query=s.ResolutionQuery,
    ),
    Route(
        "GET",
        "/api/analytics/time/",
        analytics.time_spent,
        "Minutes logged per agent in a period (site admins; a queue's managers with ?queue=)",
        query=s.TimeReportQuery,
    ),
    Route(
        "GET",
        "/api/admin/jobs/",
        integrations.jobs_list,
        "Scheduled jobs: last run, next run, last error",
        access="admin",
    ),
    Route(
        "GET",
        "/api/admin/imap-mailboxes/",
        integrations.imap_mailboxes_list,
        "IMAP mailboxes: last sync, last error",
        access="admin",
    ),
    Route(
        "GET",
        "/api/webhooks/",
        integrations.webhooks_list,
        "List webhook subscriptions",
        access="admin",
        query=s.PageQuery,
    ),
    Route(
        "POST",
        "/api/webhooks/",
        integrations.webhooks_create,
        "Subscribe a URL to events (the secret is shown once)",
        access="admin",
        body=s.WebhookCreate,
        status=201,
    ),
    Route("GET", W, integrations.webhook_detail, "One webhook subscription", access="admin"),
    Route(
        "PATCH",
        W,
        integrations.webhook_detail,
        "Change, turn on or off, or rotate the secret",
        access="admin",
        body=s.WebhookUpdate,
    ),
    Route(
        "DELETE",
        W,
        integrations.webhook_detail,
        "Delete a subscription and its deliveries",
        access="admin",
        status=204,
    ),
    Route(
        "GET",
        W + "deliveries/",
        integrations.deliveries_list,
        "Deliveries, newest first, each with its attempt log",
        access="admin",
        query=s.PageQuery,
    ),
    Route(
        "POST",
        W + "deliveries/{d}/redeliver/",
        integrations.delivery_redeliver,
        "Deliver again now (same webhook-id)",
        access="admin",
        status=202,
    ),
    PlainRoute(
        "POST",
        "/api/inbound/mime/",
        inbound.inbound_mime,
        "Hand over a raw RFC 5322 message (API key with inbound:write)",
        access="api_key",
        scope=inbound.INBOUND_SCOPE,
        status=202,
        raw_body=("message/rfc822",),
    ),
    PlainRoute(
        "POST",
        "/api/inbound/mailgun/",
        inbound.inbound_mailgun,
        "Mailgun's inbound route, raw MIME form (checked by Mailgun's signature)",
        access="signature",
        raw_body=FORMS,
    ),
    PlainRoute(
        "POST",
        "/api/inbound/postmark/",
        inbound.inbound_postmark,
        "Postmark's inbound JSON (API key, also as Basic auth password)",
        access="api_key",
        scope=inbound.INBOUND_SCOPE,
        raw_body=("application/json",),
    ),
    PlainRoute(
        "POST",
        "/api/inbound/sendgrid/",
        inbound.inbound_sendgrid,
        "SendGrid Inbound Parse with the raw message (API key, also as Basic auth password)",
        access="api_key",
        scope=inbound.INBOUND_SCOPE,
        raw_body=FORMS,
    ),
)
