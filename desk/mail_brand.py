"""The brand of outgoing mail, built in this one place for every HTML mail (issue 18): the
desk's name, its accent colour and its logo as the runtime settings have them now (an
admin's values from the database; the environment's where it sets them, as for pages:
desk/desk_settings.py). The outbox sender puts it in each mail's template context as
`brand` when it composes the mail (desk/mail/templates/_mail.html.j2 frames every HTML template with
it); mail callers never pass it.

The logo travels inside the mail, as an inline image (RFC 2392 `cid:`, in a
multipart/related beside the HTML; desk/mail/compose.py): mail clients show such images
without asking (a linked image waits for "load remote images"), it needs no public address
of ours that a reader can reach (POSTDESK_PUBLIC_URL is often unset, and the default is
this machine's listening address), and a mail keeps its logo after the logo changes. The
cost, a few kilobytes per HTML mail, is bounded by MAX_LOGO_BYTES (desk/brand_logo.py).
Here the brand names the logo's file in the blob store; the composer reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desk.blobs import blob_path
from desk.config import Settings
from desk.desk_settings import refresh_if_stale

if TYPE_CHECKING:
    from desk.context import Desk


async def mail_brand(desk: Desk) -> dict[str, Any]:
    """{"desk_name", "accent_colour" (#rrggbb), "logo" ({"path", "content_type"} of the
    image in the blob store, or None)}: the settings and the logo as this process last
    read them (desk/desk_settings.py), re-read when they are stale: no query per mail."""
    await refresh_if_stale(desk)
    s = desk.settings
    return {
        "desk_name": s.desk_name,
        "accent_colour": s.accent_colour,
        "logo": logo_file(s, desk.logo),
    }


def logo_file(settings: Settings, logo: dict[str, Any] | None) -> dict[str, str] | None:
    """Where the stored logo's bytes are and their type, for the composer; None without."""
    if logo is None:
        return None
    path = blob_path(settings.attachments_dir, logo["sha256"])
    return {"path": str(path), "content_type": logo["content_type"]}


def branded(spec: dict[str, Any], brand: dict[str, Any]) -> dict[str, Any]:
    """An outbox row's spec (desk/mail/compose.py `Outgoing` as stored) with `brand` in its
    template context; the stored spec is left as it is."""
    return {**spec, "context": {**spec.get("context", {}), "brand": brand}}
