"""Msg-id headers (Message-ID, In-Reply-To, References) written as RFC 5322 3.6.4 has them.

The email package treats In-Reply-To and References as unstructured text and folds a long
value into RFC 2047 encoded words (`=?utf-8?q?=3CAM0PR07...?=`), which no mail client reads
as an id, so threading breaks. These values bypass that folding: lines are folded only
between ids, and one long id keeps its line whole (up to 998 octets, RFC 5322 2.1.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.policy import Policy

FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters
MAX_LINE = 998  # ... and MUST within 998
# `<id-left@id-right>`: printable US-ASCII, no angle brackets or spaces inside.
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")


def usable_ids(name: str, ids: Iterable[str]) -> list[str]:
    """The ids that can be written in a `name` header: msg-id shaped and short enough to
    stand on a line of their own; anything else (a broken id from a sender) is left out."""
    room = MAX_LINE - len(name) - 2
    return [i for i in ids if _MSG_ID.fullmatch(i) and len(i) <= room]


class MsgIdHeader(str):
    """A header value the email package writes as it is: EmailPolicy stores a value that has
    a `name` as a ready header and writes it with its `fold` (as for its own header objects).
    As a str it reads as the ids separated by spaces."""

    name: str
    ids: tuple[str, ...]

    def __new__(cls, name: str, ids: Iterable[str]) -> MsgIdHeader:
        kept = tuple(ids)
        value = super().__new__(cls, " ".join(kept))
        value.name = name
        value.ids = kept
        return value

    def fold(self, *, policy: Policy) -> str:
        """`Name: <a> <b>` + linesep, folded before an id that would pass FOLD_AT."""
        lines = [f"{self.name}:"]
        for msg_id in self.ids:
            if len(lines[-1]) > len(self.name) + 1 and len(lines[-1]) + 1 + len(msg_id) > FOLD_AT:
                lines.append("")
            lines[-1] += f" {msg_id}"
        return policy.linesep.join(lines) + policy.linesep
