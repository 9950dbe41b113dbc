"""Mail handed over by HTTP. `POST /api/inbound/mime/` takes a raw RFC 5322 message from an
integration holding an API key with the `inbound:write` scope; `/mailgun/`, `/postmark/` and
`/sendgrid/` take those providers' inbound webhooks. Every one ends in the same durable
intake as SMTP (same dedup, threading and loop safety): 2xx only after the raw bytes are
committed, 5xx before, so the provider retries. The commit wakes this process's inbound
worker at once (the desk has one Receiver); a replica running only the web role leaves the
mail to the workers of the smtp replicas, which find it by polling.

Mailgun is checked by its own signature (POSTDESK_MAILGUN_SIGNING_KEY), each signature taken
once (desk.provider_tokens). Postmark and SendGrid
have no signature of their own; their documentation puts credentials in the webhook URL, so
an API key is accepted as the password of HTTP Basic auth (`https://any:KEY@host/...`) as
well as in the two headers."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from desk.errors import DeskError, ValidationFailed
from desk.intake import Envelope
from desk.mail import providers
from desk.provider_tokens import taken_once
from desk.uploads import UploadTooLarge
from web.handlers.common import malformed_form, parse_json
from web.keys import DESK
from web.responses import json_response

log = logging.getLogger(__name__)
INBOUND_SCOPE = "inbound:write"  # the API key scope the route table asks for


class NotStored(DeskError):
    code = "not_stored"
    status = 503


async def inbound_mime(request: web.Request) -> web.Response:
    raw = await _read_body(request, request.app[DESK].settings.max_message_bytes)
    if not raw.strip():
        raise ValidationFailed("the body must be a raw RFC 5322 message", field="body")
    return await _store(request, raw, [], "api")


async def inbound_mailgun(request: web.Request) -> web.Response:
    settings = request.app[DESK].settings
    fields = await _read_form(request, settings.smtp_size_limit)
    providers.verify_mailgun(settings.mailgun_signing_key, fields, time.time())
    raw, rcpts = providers.mailgun_raw(fields)
    window = providers.MAILGUN_MAX_SKEW_SECONDS
    async with taken_once(request.app[DESK].db, "mailgun", fields["token"], window):
        return await _store(request, raw, rcpts, "mailgun")


async def inbound_postmark(request: web.Request) -> web.Response:
    body = await _read_body(request, request.app[DESK].settings.smtp_size_limit)
    payload = parse_json(body)
    raw, rcpts = providers.postmark_raw(payload)
    return await _store(request, raw, rcpts, "postmark")


async def inbound_sendgrid(request: web.Request) -> web.Response:
    fields = await _read_form(request, request.app[DESK].settings.smtp_size_limit)
    raw, rcpts = providers.sendgrid_raw(fields)
    return await _store(request, raw, rcpts, "sendgrid")


async def _store(request: web.Request, raw: bytes, rcpts: list[str], source: str) -> web.Response:
    """Commit, then answer. Providers read any 2xx as delivered (Mailgun and SendGrid want
    200), so every provider gets 200 and the raw-MIME endpoint keeps its documented 202."""
    desk = request.app[DESK]
    settings = desk.settings
    if len(raw) > settings.max_message_bytes:
        limit = settings.max_message_bytes
        raise UploadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    envelope = Envelope(
        mail_from=None, source=source, rcpt_tos=tuple(rcpts) or (settings.support_address,)
    )
    try:
        stored_id = await desk.receiver.receive(raw, envelope)
    except Exception as exc:
        log.exception("could not store a message handed over by %s", source)
        raise NotStored("the message was not stored; send it again later") from exc
    status = 202 if source == "api" else 200
    return json_response({"id": stored_id, "status": "stored"}, status=status)


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise UploadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise UploadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    return raw


async def _read_form(request: web.Request, limit: int) -> dict[str, str]:
    """A provider's form, multipart or URL-encoded, read with one size cap for the whole
    body. File parts (a provider's parsed attachments) are skipped: the raw MIME has them."""
    if request.content_type == "application/x-www-form-urlencoded":
        body = await _read_body(request, limit)
        text = body.decode("ascii", "surrogateescape")
        return dict(parse_qsl(text, keep_blank_values=True, errors="surrogateescape"))
    if request.content_type != "multipart/form-data":
        raise ValidationFailed("send multipart/form-data or a URL-encoded form", field="body")
    with malformed_form():
        return await _read_parts(request, limit)


async def _read_parts(request: web.Request, limit: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    size = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.filename:
            continue
        chunks = []
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(f"the form is larger than {limit} bytes", limit=limit)
            chunks.append(chunk)
        # Decoded losslessly: the raw MIME must reach the intake byte for byte.
        fields[part.name or ""] = b"".join(chunks).decode("utf-8", "surrogateescape")
    return fields
