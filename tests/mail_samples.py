"""Mail as real clients send it, built for the tests (and bench/ingest.py's corpus): HTML-only,
Japanese ISO-2022-JP, Outlook's winmail.dat, invitations, forwards, S/MIME."""

from __future__ import annotations

import struct
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

# The shared real-world cases (../shared/cases/mail/), copied byte for byte with their
# README so the suite runs from a clone alone.
CASES = Path(__file__).parent / "cases" / "mail"


def case_bytes(name: str, file: str = "case.eml") -> bytes:
    """A file of tests/cases/mail/, with CRLF line ends (as its README says)."""
    return (CASES / name / file).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _base(sender: str, subject: str, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Sender <{sender}>"
    msg["To"] = "support@localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    return msg


def html_only(sender: str = "html@example.com", words: str = "quokka") -> bytes:
    msg = _base(sender, "HTML only")
    msg.set_content(
        "<html><head><title>Ignore me title</title><style>p{color:red}</style></head>"
        f"<body><p>First paragraph about the {words}.</p><p>Line one<br>Line two</p>"
        "<ul><li>apples</li><li>pears</li></ul>"
        '<p>See <a href="https://docs.example.com/upload">the guide</a>.</p>'
        "<script>document.write('evil')</script></body></html>",
        subtype="html",
    )
    return msg.as_bytes()


def japanese(sender: str = "tanaka@example.jp") -> bytes:
    """7-bit ISO-2022-JP with NEC extensions (① and ㈱, as Outlook on Japanese Windows
    writes them), a subject split over two encoded words."""
    text = "①請求書の件です。\r\n㈱サンプル 田中\r\n"
    body = _to_iso2022jp_cp932(text)
    subject = "=?ISO-2022-JP?B?GyRCQEE1YT1xGyhC?= =?ISO-2022-JP?B?GyRCJEskRCQkJEYbKEI=?="
    return (
        f"From: =?ISO-2022-JP?B?GyRCRURDZhsoQg==?= <{sender}>\r\n"
        "To: support@localhost\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='example.jp')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="ISO-2022-JP"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode() + body


def _to_iso2022jp_cp932(text: str) -> bytes:
    """Text in ISO-2022-JP the way Windows (CP50220) writes it: cp932 pairs as JIS rows."""
    out, wide = bytearray(), False
    for char in text:
        if ord(char) < 0x80:
            if wide:
                out += b"\x1b(B"
                wide = False
            out += char.encode()
            continue
        if not wide:
            out += b"\x1b$B"
            wide = True
        s1, s2 = char.encode("cp932")
        out += bytes(_sjis_to_jis(s1, s2))
    if wide:
        out += b"\x1b(B"
    return bytes(out)


def _sjis_to_jis(s1: int, s2: int) -> tuple[int, int]:
    row = (s1 - (0x70 if s1 <= 0x9F else 0xB0)) * 2
    if s2 < 0x9F:
        return row - 1, s2 - (0x1F if s2 < 0x7F else 0x20)
    return row, s2 - 0x7E


def tnef(files: list[tuple[str, bytes]], body: str = "") -> bytes:
    """A winmail.dat (MS-OXTNEF): version, code page, an optional body, the files."""

    def attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
        checksum = struct.pack("<H", sum(data) & 0xFFFF)
        return struct.pack("<BHHI", level, name, kind, len(data)) + data + checksum

    out = struct.pack("<IH", 0x223E9F78, 1)
    out += attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    out += attribute(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))
    if body:
        out += attribute(1, 0x800C, 0x0002, body.encode("cp1252"))
    for name, data in files:
        out += attribute(2, 0x9002, 0x0006, bytes(14))
        out += attribute(2, 0x8010, 0x0001, name.encode("cp1252") + b"\x00")
        out += attribute(2, 0x800F, 0x0006, data)
    return out


def outlook_tnef(sender: str = "outlook@example.com", body: str = "") -> bytes:
    msg = _base(sender, "Report from Outlook")
    if body:
        msg.set_content("")
        msg.make_mixed()
    else:
        msg.set_content("Please see the attached report.")
    blob = tnef([("report.pdf", b"%PDF-1.4 tnef report"), ("notes.txt", b"plain notes")], body)
    msg.add_attachment(blob, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


INVITE = (
    "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\n"
    "BEGIN:VEVENT\r\nUID:42@example.com\r\nSUMMARY:Quarterly review\r\n"
    "DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nLOCATION:Room 4\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def invitation_with_text(sender: str = "cal@example.com") -> bytes:
    """Outlook's shape: multipart/alternative of text, HTML and the calendar itself."""
    msg = _base(sender, "Invitation: Quarterly review")
    msg.set_content("You are invited to the quarterly review.")
    msg.add_alternative("<p>You are invited to the quarterly review.</p>", subtype="html")
    msg.add_alternative(INVITE, subtype="calendar", params={"method": "REQUEST"})
    return msg.as_bytes()


def forwarded(sender: str = "fwd@example.com") -> bytes:
    """The customer's own words, and a forwarded message (with a file of its own)."""
    inner = _base("original@example.org", "Original problem")
    inner.set_content("INNER TEXT from the original sender, not the customer.")
    inner.add_attachment(b"inner file", maintype="text", subtype="plain", filename="log.txt")
    outer = _base(sender, "Fwd: Original problem")
    outer.set_content("Customer words: please look at the forwarded mail.")
    outer.add_attachment(inner)
    outer.add_attachment(b"%PDF own", maintype="application", subtype="pdf", filename="own.pdf")
    return outer.as_bytes()


def inline_images(sender: str = "img@example.com") -> bytes:
    msg = _base(sender, "Screenshot")
    msg.set_content("See the screenshot.")
    msg.add_related(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", cid="<shot1>")
    msg.add_related(b"\xff\xd8\xff fake", maintype="image", subtype="jpeg", cid="<shot2>")
    raw = msg.as_bytes()
    return raw.replace(b"Content-Disposition: inline\n", b"")


def many_parts(count: int, sender: str = "parts@example.com") -> bytes:
    head = (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: Many parts\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
    ).encode()
    part = b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return head + part * count + b"--p--\r\n"


def _certificate():  # a throw-away self-signed signer
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "signer@example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _smime_mail(sender: str, der: bytes, smime_type: str, subtype: str = "pkcs7-mime") -> bytes:
    import base64

    encoded = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: S/MIME {smime_type}\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: application/{subtype}; smime-type={smime_type}; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    ).encode() + encoded


SIGNED_TEXT = "Signed words from the customer: the VPN is down."


def smime_signed(sender: str = "signed@example.com", subtype: str = "pkcs7-mime") -> bytes:
    """Opaque-signed (RFC 8551 3.5.2): the content is inside the signed-data blob."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, key = _certificate()
    inner = EmailMessage()
    inner.set_content(SIGNED_TEXT)
    inner.add_attachment(b"signed file", maintype="text", subtype="plain", filename="inside.txt")
    content = inner.as_bytes().replace(b"\n", b"\r\n")
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    return _smime_mail(sender, der, "signed-data", subtype)


def smime_encrypted(sender: str = "secret@example.com") -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "support@localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(b"Content-Type: text/plain\r\n\r\nsecret words\r\n")
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [])
    )
    return _smime_mail(sender, der, "enveloped-data")
