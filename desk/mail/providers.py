"""Mail handed over by providers' inbound webhooks, turned into the raw RFC 5322 bytes the
intake stores. Raw MIME is always preferred (Mailgun's `body-mime`, SendGrid's `email`,
Postmark's `RawEmail`): it is the customer's mail byte for byte, so dedup, threading and
loop detection see exactly what SMTP would have. Only Postmark's JSON without the raw
message is rebuilt into MIME here, deterministically, so a provider's retry of the same
payload yields the same bytes and is stored once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, getaddresses
from typing import Any

from desk.errors import DeskError, ValidationFailed
from desk.mail.compose import LiteralHeader
from desk.mail.headers import clean_header_text, header_text

# Mailgun signs with a timestamp; older than this (or this far in the future) is refused,
# so a captured request cannot be replayed later.
MAILGUN_MAX_SKEW_SECONDS = 15 * 60
MAILGUN_MAX_TOKEN = 200  # Mailgun's are 50 characters; the column holds 200
# Headers the rebuilt message sets itself (structure), never copied from a payload.
_STRUCTURAL = {
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "content-disposition",
    "from",
    "to",
    "cc",
    "subject",
    "date",
}


class BadSignature(DeskError):
    code = "bad_signature"
    status = 401


class NotConfigured(DeskError):
    code = "not_configured"
    status = 503


def verify_mailgun(signing_key: str | None, fields: Mapping[str, str], now: float) -> None:
    """Mailgun's check: HMAC-SHA256 of timestamp+token under the webhook signing key, and a
    timestamp (Unix seconds, a finite number) within MAILGUN_MAX_SKEW_SECONDS of `now`.
    That a token is used once is the caller's to check (desk.provider_tokens)."""
    if not signing_key:
        raise NotConfigured("set POSTDESK_MAILGUN_SIGNING_KEY to accept mail from Mailgun")
    timestamp, token = fields.get("timestamp", ""), fields.get("token", "")
    signature = fields.get("signature", "")
    if not (timestamp and token and signature):
        raise BadSignature("timestamp, token and signature are required")
    if len(token) > MAILGUN_MAX_TOKEN:
        raise BadSignature(f"the token is longer than {MAILGUN_MAX_TOKEN} characters")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
        raise BadSignature("the Mailgun signature does not match")
    try:
        skew = abs(now - float(timestamp))
    except ValueError:
        raise BadSignature("the timestamp is not a number") from None
    # "nan" parses, and nan > x is false: only a finite skew inside the window passes.
    if not skew <= MAILGUN_MAX_SKEW_SECONDS:
        raise BadSignature("the Mailgun timestamp is too old or in the future")


def mailgun_raw(fields: Mapping[str, str]) -> tuple[bytes, list[str]]:
    raw = fields.get("body-mime", "")
    if not raw.strip():
        raise ValidationFailed(
            "route to the URL with Mailgun's raw MIME form (body-mime)", field="body-mime"
        )
    return raw.encode("utf-8", "surrogateescape"), addresses(fields.get("recipient", ""))


def sendgrid_raw(fields: Mapping[str, str]) -> tuple[bytes, list[str]]:
    raw = fields.get("email", "")
    if not raw.strip():
        raise ValidationFailed(
            "turn on 'POST the raw, full MIME message' in Inbound Parse", field="email"
        )
    try:
        envelope = json.loads(fields.get("envelope") or "{}")
    except ValueError:
        raise ValidationFailed("envelope is not JSON", field="envelope") from None
    to = envelope.get("to") if isinstance(envelope, dict) else None
    rcpts = [str(a) for a in to] if isinstance(to, list) else addresses(fields.get("to", ""))
    return raw.encode("utf-8", "surrogateescape"), addresses(", ".join(rcpts))


def postmark_raw(payload: Any) -> tuple[bytes, list[str]]:
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be Postmark's inbound JSON", field="body")
    rcpts = addresses(str(payload.get("OriginalRecipient") or payload.get("To") or ""))
    raw = payload.get("RawEmail")
    if isinstance(raw, str) and raw.strip():
        return raw.encode("utf-8", "surrogateescape"), rcpts
    if not (payload.get("From") or payload.get("FromFull")):
        raise ValidationFailed("From is required", field="From")
    message = _rebuild_postmark(payload)
    _fix_boundaries(message, json.dumps(payload, sort_keys=True, default=str))
    return message.as_bytes(policy=SMTP), rcpts


def _fix_boundaries(message: EmailMessage, seed: str) -> None:
    """Boundaries derived from the payload instead of random ones: the same payload gives the
    same bytes, so a provider's retry is recognised as the stored copy."""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:32]
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_postdesk_{digest}_{number}")


def _rebuild_postmark(payload: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _address(payload.get("FromFull")) or _line(payload.get("From"))
    for header, full, plain in (("To", "ToFull", "To"), ("Cc", "CcFull", "Cc")):
        value = _addresses(payload.get(full)) or _line(payload.get(plain))
        if value:
            message[header] = value
    # Postmark's Subject is decoded text: written so that it reads back as that text, not
    # decoded again (an encoded word in it is the sender's text, desk/mail/compose.py).
    message["Subject"] = LiteralHeader("Subject", header_text(str(payload.get("Subject") or "")))
    if payload.get("Date"):
        message["Date"] = _line(payload.get("Date"))
    for header in payload.get("Headers") or []:
        if not isinstance(header, dict):
            continue
        name, value = _line(header.get("Name")), _line(header.get("Value"))
        if name and name.lower() not in _STRUCTURAL and _is_field_name(name):
            message[name] = value
    if "Message-ID" not in message and payload.get("MessageID"):
        # Postmark's own id: stable across its retries, so the same mail dedups.
        message["Message-ID"] = f"<{_line(payload['MessageID'])}@inbound.postmarkapp.com>"
    message.set_content(str(payload.get("TextBody") or ""))
    if payload.get("HtmlBody"):
        message.add_alternative(str(payload["HtmlBody"]), subtype="html")
    for item in payload.get("Attachments") or []:
        _attach(message, item)
    return message


def _attach(message: EmailMessage, item: Any) -> None:
    if not isinstance(item, dict):
        raise ValidationFailed("each attachment must be an object", field="Attachments")
    try:
        data = base64.b64decode(str(item.get("Content") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("attachment content is not base64", field="Attachments") from None
    maintype, _, subtype = _line(item.get("ContentType") or "").partition("/")
    if not (maintype and subtype):
        maintype, subtype = "application", "octet-stream"
    message.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename=_line(item.get("Name")) or "attachment",
        cid=_line(item.get("ContentID")) or None,
    )


def addresses(value: str) -> list[str]:
    """Plain addresses from a header-like list, lower-cased, without names."""
    return [a.lower() for _, a in getaddresses([_line(value)]) if "@" in a]


def _address(full: Any) -> str:
    if not isinstance(full, dict) or not full.get("Email"):
        return ""
    return formataddr((_line(full.get("Name")), _line(full.get("Email"))))


def _addresses(full: Any) -> str:
    if not isinstance(full, list):
        return ""
    return ", ".join(a for a in (_address(f) for f in full) if a)


def _line(value: Any) -> str:
    """A payload value as one header line: nothing in it can start another header."""
    return clean_header_text(str(value or ""), limit=990)


def _is_field_name(name: str) -> bool:
    return all(33 <= ord(c) <= 126 and c != ":" for c in name)
