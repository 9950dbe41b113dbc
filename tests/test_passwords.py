"""Password checks: unknown accounts cost what known ones cost, and nothing is hashed
before a password is checked."""

from __future__ import annotations

import subprocess
import sys

from argon2 import PasswordHasher

from desk.auth import passwords


def test_importing_hashes_nothing():
    code = (
        "import argon2\n"
        "def refuse(*a, **k): raise SystemExit('hashed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import desk.auth.passwords\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_account_is_checked_against_a_hash_like_a_real_one():
    assert passwords.verify_password(None, "postdesk-no-such-user") is False
    assert passwords.verify_password(None, "anything") is False
    stand_in = passwords._stand_in_hash()
    # Same algorithm and cost as a stored password, so the check takes as long.
    assert not PasswordHasher().check_needs_rehash(stand_in)
    assert stand_in.split("$")[:4] == passwords.hash_password("x").split("$")[:4]


def test_known_account():
    stored = passwords.hash_password("correct horse 1")
    assert passwords.verify_password(stored, "correct horse 1") is True
    assert passwords.verify_password(stored, "wrong") is False
    assert passwords.verify_password("not a hash", "wrong") is False
