"""Reading the pages' forms: fields as text and attached files as uploads.

A page's form is read whole with `request.post()` (the CSRF check reads it first, and
aiohttp keeps it for the handler); the request's size is bounded by the application's
`client_max_size`. Files go through the same checks and store as the API's uploads
(desk.uploads.keep_upload: size and type, then the blob store)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from multidict import MultiDictProxy

from desk.errors import ValidationFailed
from desk.uploads import MAX_FILES, UnsupportedType, Upload, UploadTooLarge, keep_upload
from web.keys import DESK

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


# The longest message a person may write, as the API's MessageCreate/TicketCreate allow
# (web/schemas.py): one limit for the agent's composer and the customer's portal.
MESSAGE_LIMIT = 100_000


def too_long(value: str, limit: int = MESSAGE_LIMIT) -> str | None:
    """None, or what to tell the writer when `value` is over `limit` characters (the page
    shows it with their text kept: nothing they wrote is cut without a word)."""
    if len(value) <= limit:
        return None
    return (
        f"Your message is {len(value):,} characters long; the limit is {limit:,}. "
        "Shorten it and send again."
    )


def text(form: Form, name: str, limit: int = 200_000) -> str:
    """Field `name` as text ("" when absent or a file), at most `limit` characters."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


async def uploads(request: web.Request, form: Form, name: str = "files") -> list[Upload]:
    """The files of field `name` that were chosen (a browser sends an empty part for a
    picker left empty), stored as the API stores uploads."""
    chosen = [f for f in form.getall(name, []) if isinstance(f, web.FileField) and f.filename]
    if len(chosen) > MAX_FILES:
        raise ValidationFailed(f"at most {MAX_FILES} files", field=name)
    settings = request.app[DESK].settings
    kept = []
    for f in chosen:
        data = await asyncio.to_thread(f.file.read)
        kept.append(await keep_upload(settings, f.filename, f.content_type, data))
    return kept


async def uploads_or_problem(
    request: web.Request, form: Form, name: str = "files"
) -> tuple[list[Upload], str | None]:
    """`uploads`, or no files and what to tell the person (too many, too large, a refused
    type), so a form can show it with what they typed kept."""
    try:
        return await uploads(request, form, name), None
    except (ValidationFailed, UploadTooLarge, UnsupportedType) as exc:
        return [], exc.message
