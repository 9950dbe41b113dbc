"""Mail handed over by HTTP: `POST /api/inbound/mime/` takes a raw RFC 5322 message from an
integration holding an API key with the `inbound:write` scope. It ends in the same durable
intake as SMTP (same dedup, threading and loop safety): 202 only after the raw bytes are
committed, 5xx before. The inbound worker picks the mail up within its poll interval (2 s),
in this process or in any replica running the smtp or jobs role."""

from __future__ import annotations

import logging

from aiohttp import web

from desk.auth.api_keys import authenticate_key
from desk.errors import DeskError, NotAuthenticated, ValidationFailed
from desk.intake import Envelope, store_raw
from desk.uploads import UploadTooLarge
from web.keys import DESK

log = logging.getLogger(__name__)
INBOUND_SCOPE = "inbound:write"


class NotStored(DeskError):
    code = "not_stored"
    status = 503


async def require_key(request: web.Request, scope: str) -> None:
    """An integration's API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    key = value.strip() if scheme.lower() == "bearer" else request.headers.get("X-Api-Key", "")
    if not key.strip():
        raise NotAuthenticated("send the API key as Authorization: Bearer <key> or X-Api-Key")
    await authenticate_key(request.app[DESK].db, key.strip(), scope)


async def inbound_mime(request: web.Request) -> web.Response:
    await require_key(request, INBOUND_SCOPE)
    desk = request.app[DESK]
    limit = desk.settings.max_message_bytes
    if request.content_length is not None and request.content_length > limit:
        raise UploadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise UploadTooLarge(f"the message is larger than {limit} bytes", limit=limit)
    if not raw.strip():
        raise ValidationFailed("the body must be a raw RFC 5322 message", field="body")
    envelope = Envelope(mail_from=None, rcpt_tos=(desk.settings.support_address,),
                        source="api")  # fmt: skip
    try:
        [stored_id] = await store_raw(desk.db, [(raw, envelope)])
    except Exception as exc:
        log.exception("could not store a message handed over by HTTP")
        raise NotStored("the message was not stored; send it again later") from exc
    return web.json_response({"id": stored_id, "status": "stored"}, status=202)
