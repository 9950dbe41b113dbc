"""Outgoing mail as bytes: rendered from desk/mail/templates/, threaded, loop-safe,
injection-proof."""

from __future__ import annotations

import email.policy
import importlib.resources
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy, Policy
from email.utils import format_datetime, make_msgid
from typing import Any

import jinja2

from desk.errors import DeskError
from desk.mail.headers import header_text, is_plain_address, safe_filename
from desk.mail.msg_ids import MsgIdHeader, usable_ids

MAX_REFERENCES = 20


class UnsafeHeader(DeskError):
    """A composed message would carry a header we did not set: refuse to send it."""

    code = "unsafe_header"
    status = 422


@dataclass(frozen=True)
class Outgoing:
    to_address: str
    to_name: str
    from_name: str
    from_address: str
    reply_to: str
    subject: str
    template: str  # base name under desk/mail/templates/: <name>.txt.j2 and <name>.html.j2
    context: dict[str, Any]
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    automatic: bool = False
    # RFC 3834: "auto-replied" answers a message; "auto-generated" notifies on its own.
    auto_submitted: str = "auto-replied"
    # Files sent along: {"filename", "content_type", "path"} (a blob under DATA_DIR).
    attachments: list[dict[str, str]] = field(default_factory=list)
    # More people in To, and the people in Cc, as (name, address): a public reply goes to
    # every participant of the ticket, reply-all as mail clients do it.
    also_to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)

    @property
    def envelope_recipients(self) -> list[str]:
        """Every address the mail is delivered to (SMTP RCPT TO), each once, To first."""
        rest = [address for _, address in (*self.also_to, *self.cc)]
        return list(dict.fromkeys([self.to_address, *rest]))


def template_environment() -> jinja2.Environment:
    # Inside the package (desk/mail/templates/): a top-level "templates" package would
    # collide with any other distribution that ships one.
    root = importlib.resources.files("desk.mail") / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        # HTML templates escape everything they insert; the text ones must not.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def new_message_id(from_address: str) -> str:
    return make_msgid(domain=from_address.rpartition("@")[2])


def check_recipient(out: Outgoing) -> None:
    for address in out.envelope_recipients:
        if not is_plain_address(address):
            raise UnsafeHeader(f"recipient is not a plain address: {address!r}")


_ENV: jinja2.Environment | None = None


def compose_spec(spec: dict[str, Any], message_id: str) -> bytes:
    """compose() from an outbox row's stored spec, with templates loaded once per process
    (the sender runs this in a worker process, off the event loop)."""
    global _ENV
    if _ENV is None:
        _ENV = template_environment()
    return compose(Outgoing(**spec), _ENV, message_id)


def needs_smtputf8(addresses: list[str]) -> bool:
    """Whether mail to or from these addresses can only be carried with SMTPUTF8 (RFC 6531):
    a non-ASCII local part has no ASCII form (a domain would, as IDNA, but one policy for
    both keeps the path simple)."""
    return not all(address.isascii() for address in addresses)


def compose(out: Outgoing, env: jinja2.Environment, message_id: str) -> bytes:
    """The message as bytes; UTF-8 headers (RFC 6532) when an address needs them, which the
    sender then hands over with SMTPUTF8. Raises UnsafeHeader."""
    check_recipient(out)
    utf8 = needs_smtputf8([out.from_address, out.reply_to, *out.envelope_recipients])
    msg = EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    headers = _headers(out, message_id)
    for name, value in headers:
        msg[name] = value
    context, logo = _with_logo(out.context, message_id)
    msg.set_content(env.get_template(f"{out.template}.txt.j2").render(context))
    msg.add_alternative(env.get_template(f"{out.template}.html.j2").render(context), subtype="html")
    if logo is not None:
        # multipart/alternative(text, multipart/related(html, image)): the image beside the
        # HTML that names it (RFC 2387), not a file for the reader to open.
        data, content_type, cid = logo
        maintype, _, subtype = content_type.partition("/")
        html_part = msg.get_body(("html",))
        assert isinstance(html_part, EmailMessage)  # the part added just above
        html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
    for a in out.attachments:
        maintype, _, subtype = a["content_type"].partition("/")
        with open(a["path"], "rb") as fh:
            msg.add_attachment(
                fh.read(),
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=safe_filename(a["filename"], encoded=False),
            )
    raw = msg.as_bytes()
    _verify_headers(raw, [name for name, _ in headers])
    return raw


def _with_logo(
    context: dict[str, Any], message_id: str
) -> tuple[dict[str, Any], tuple[bytes, str, str] | None]:
    """The template context with `brand.logo_src` (a `cid:` URL, or None without a logo or
    when its file is gone) and the image to carry: (bytes, type, Content-ID). The id is
    unique per mail (RFC 2392), made from the mail's own Message-ID."""
    brand = context.get("brand")
    if not isinstance(brand, dict):
        return context, None
    logo, carried = brand.get("logo"), None
    if logo:
        try:
            with open(logo["path"], "rb") as fh:
                cid = "logo." + message_id.strip("<>")
                carried = (fh.read(), str(logo["content_type"]), cid)
        except OSError:  # removed since the brand was read: the mail goes without it
            carried = None
    src = f"cid:{carried[2]}" if carried else None
    return {**context, "brand": {**brand, "logo_src": src}}, carried


def _headers(out: Outgoing, message_id: str) -> list[tuple[str, Any]]:
    headers: list[tuple[str, Any]] = [
        ("From", _address(out.from_name, out.from_address)),
        ("To", _addresses([(out.to_name, out.to_address), *out.also_to])),
        ("Reply-To", _address("", out.reply_to)),
        ("Subject", LiteralHeader("Subject", header_text(out.subject))),
        ("Date", format_datetime(datetime.now(UTC))),
        ("Message-ID", MsgIdHeader("Message-ID", [message_id])),
    ]
    if out.cc:
        headers.append(("Cc", _addresses(out.cc)))
    # Never encoded words, folded only between ids (desk/mail/msg_ids.py).
    in_reply_to = usable_ids("In-Reply-To", [out.in_reply_to or ""])
    if in_reply_to:
        headers.append(("In-Reply-To", MsgIdHeader("In-Reply-To", in_reply_to)))
    references = _trim_references(usable_ids("References", out.references))
    if references:
        headers.append(("References", MsgIdHeader("References", references)))
    if out.automatic:
        # RFC 3834: mark our automatic answers so other robots do not answer them.
        headers.append(("Auto-Submitted", out.auto_submitted))
        headers.append(("X-Auto-Response-Suppress", "All"))
    return headers


class LiteralHeader(str):
    """A header whose text is written so that its reader gets that text back: a subject is
    stored decoded (desk/mail/headers.py: clean_header_text decodes once), so `=?…?=` in
    it is text (a customer's `Invoice =?utf-8?b?UEFJRA==?=`, a question about encoded
    words). Set as a plain string, the email package would parse it as RFC 2047 and write
    the words out raw, and the recipient's client would decode them ("Invoice PAID"), or
    turn a broken one into lone surrogates an SMTPUTF8 mail cannot carry. Such text goes
    out as encoded words of its own (RFC 2047), which decode back to exactly the text;
    other text is written by the email package's own header, as before. Like MsgIdHeader
    (desk/mail/msg_ids.py), a value with a `name` is kept as the header and folded by its
    `fold`."""

    name: str

    def __new__(cls, name: str, text: str) -> LiteralHeader:
        value = super().__new__(cls, text)
        value.name = name
        return value

    def fold(self, *, policy: Policy) -> str:
        if "=?" not in self and isinstance(policy, EmailPolicy):  # ours always are
            return str(policy.header_factory(self.name, str(self)).fold(policy=policy))
        encoded = Header(str(self), "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


def _address(name: str, address: str) -> Address:
    # From the parts, not addr_spec: parsing an addr_spec with a non-ASCII local part raises
    # NonASCIILocalPartDefect, though with SMTPUTF8 that address is fine.
    username, _, domain = address.rpartition("@")
    return Address(display_name=header_text(name, limit=200), username=username, domain=domain)


def _addresses(people: list[tuple[str, str]]) -> tuple[Address, ...]:
    # The spec comes back from JSON with each pair as a list: unpacked, never indexed.
    return tuple(_address(name, address) for name, address in people)


def _trim_references(refs: list[str]) -> list[str]:
    """Keep the root and the newest ones (RFC 5322 3.6.4 allows trimming the middle)."""
    unique = list(dict.fromkeys(r for r in refs if r))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1) :]]


def _verify_headers(raw: bytes, expected: list[str]) -> None:
    end = raw.find(b"\r\n\r\n")
    parsed = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[: end + 4])
    extra = {"mime-version", "content-type", "content-transfer-encoding"}
    seen = Counter(k.lower() for k in parsed if k.lower() not in extra)
    if seen != Counter(name.lower() for name in expected):
        raise UnsafeHeader(f"composed headers {sorted(seen)} differ from those set")
