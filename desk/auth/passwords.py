"""Passwords hashed with argon2id (argon2-cffi's defaults follow RFC 9106), checked at
login (web/handlers/auth.py) and set by desk.people and the sign-up flow."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; for an account that does not exist (None) it
    verifies against a stand-in hash, so the answer takes as long as a real check and
    does not tell who has an account."""
    try:
        return _HASHER.verify(stored or _stand_in_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@cache
def _stand_in_hash() -> str:
    """Made at the first login of an unknown address, not at import: argon2 is slow on
    purpose, and most processes (the CLI, the SMTP role) never check a password. Made by
    the same hasher, so checking against it costs what a real account's check costs."""
    return _HASHER.hash("postdesk-no-such-user")
