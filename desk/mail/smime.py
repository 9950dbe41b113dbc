"""Opaque S/MIME (RFC 8551 application/pkcs7-mime): the content of a signed-data blob is
taken out so the mail reads; nothing is verified. A small BER walk of CMS (RFC 5652)
ContentInfo -> SignedData -> EncapsulatedContentInfo, bounded in depth and size."""

from __future__ import annotations

from dataclasses import dataclass

SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
ENVELOPED_DATA = bytes.fromhex("2a864886f70d010703")  # 1.2.840.113549.1.7.3
AUTH_ENVELOPED_DATA = bytes.fromhex("2a864886f70d0109100117")  # 1.2.840.113549.1.9.16.1.23
_MAX_DEPTH = 32


class NotCms(ValueError):
    """The bytes are not the CMS structure they claim to be."""


@dataclass(frozen=True)
class Node:
    tag: int  # the identifier octet (class, constructed bit, number < 31)
    start: int  # first content octet
    end: int  # one past the last content octet
    after: int  # where the next sibling starts (past an end-of-contents marker)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def kind(der: bytes) -> str:
    """ "signed", "encrypted" or "other" for a ContentInfo; "other" when it does not read."""
    try:
        oid = _content_type(der)
    except NotCms:
        return "other"
    if oid == SIGNED_DATA:
        return "signed"
    return "encrypted" if oid in (ENVELOPED_DATA, AUTH_ENVELOPED_DATA) else "other"


def signed_content(der: bytes) -> bytes:
    """The encapsulated content (a MIME entity for S/MIME) of a signed-data ContentInfo.
    Raises NotCms when it is anything else or is broken."""
    info = _children(der, _node(der, 0))
    if len(info) < 2 or _value(der, info[0]) != SIGNED_DATA:
        raise NotCms("not CMS signed-data")
    signed = _children(der, _only_child(der, info[1]))
    encapsulated = _children(der, signed[2]) if len(signed) > 2 else []
    if len(encapsulated) < 2:
        raise NotCms("signed-data without its content (a detached signature)")
    return _octets(der, _only_child(der, encapsulated[1]), 0)


def _content_type(der: bytes) -> bytes:
    info = _children(der, _node(der, 0))
    if not info or info[0].tag != 0x06:
        raise NotCms("no content type")
    return _value(der, info[0])


def _node(data: bytes, pos: int, depth: int = 0) -> Node:
    if depth > _MAX_DEPTH or pos + 2 > len(data):
        raise NotCms("truncated or too deeply nested")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise NotCms("high tag numbers are not used by CMS")
    start = pos + 2
    if first == 0x80:  # indefinite length (BER): children up to an end-of-contents marker
        cursor = start
        while data[cursor : cursor + 2] != b"\x00\x00":
            cursor = _node(data, cursor, depth + 1).after
        return Node(tag, start, cursor, cursor + 2)
    length = first
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            raise NotCms("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise NotCms("cut short")
    return Node(tag, start, start + length, start + length)


def _children(data: bytes, node: Node, depth: int = 0) -> list[Node]:
    if not node.constructed:
        raise NotCms("expected a constructed value")
    found, cursor = [], node.start
    while cursor < node.end:
        child = _node(data, cursor, depth + 1)
        found.append(child)
        cursor = child.after
    return found


def _only_child(data: bytes, node: Node) -> Node:
    children = _children(data, node)
    if not children:
        raise NotCms("empty explicit tag")
    return children[0]


def _value(data: bytes, node: Node) -> bytes:
    return data[node.start : node.end]


def _octets(data: bytes, node: Node, depth: int) -> bytes:
    """An OCTET STRING's bytes, also when BER splits it into constructed chunks."""
    if depth > _MAX_DEPTH:
        raise NotCms("too deeply nested")
    if not node.constructed:
        return _value(data, node)
    return b"".join(_octets(data, child, depth + 1) for child in _children(data, node))
