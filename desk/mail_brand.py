"""The brand of outgoing mail, built in this one place for every HTML mail (issue 18): the
desk's name, its accent colour and its logo as the runtime settings have them now (an
admin's values from the database; the environment's where it sets them, as for pages:
desk/desk_settings.py). The outbox sender puts it in each mail's template context as
`brand` when it composes the mail (templates/_mail.html.j2 frames every HTML template with
it); mail callers never pass it.

The logo is a link, not an attachment: an absolute URL on POSTDESK_PUBLIC_URL to the public
logo route (desk/brand_logo.py LOGO_PATH), so a mail stays small and the image is only ever
one the admin uploaded to us. Without POSTDESK_PUBLIC_URL there is no address a recipient
could reach (the default is this machine's listening address), so the mail has no image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desk.config import Settings
from desk.desk_settings import refresh_if_stale

if TYPE_CHECKING:
    from desk.context import Desk

PUBLIC_URL = "POSTDESK_PUBLIC_URL"


async def mail_brand(desk: Desk) -> dict[str, Any]:
    """{"desk_name", "accent_colour" (#rrggbb), "logo_url" (absolute URL or None)}: the
    settings and the logo as this process last read them (desk/desk_settings.py), re-read
    when they are stale: no query per mail."""
    await refresh_if_stale(desk)
    s = desk.settings
    logo = desk.logo
    return {
        "desk_name": s.desk_name,
        "accent_colour": s.accent_colour,
        "logo_url": logo_url(s, logo["url"] if logo else None),
    }


def logo_url(settings: Settings, path: str | None) -> str | None:
    """The logo's address for a mail reader, or None (no logo, or no public address)."""
    if path is None or PUBLIC_URL not in settings.from_environment:
        return None
    return f"{settings.public_url}{path}"


def branded(spec: dict[str, Any], brand: dict[str, Any]) -> dict[str, Any]:
    """An outbox row's spec (desk/mail/compose.py `Outgoing` as stored) with `brand` in its
    template context; the stored spec is left as it is."""
    return {**spec, "context": {**spec.get("context", {}), "brand": brand}}
