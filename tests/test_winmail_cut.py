"""A winmail.dat cut inside a header (found by the mutation property test in
test_mail_reading.py: tnefparse raised struct.error, and the whole mail became unreadable)."""

from __future__ import annotations

import pytest

from desk.mail.winmail import unpack


@pytest.mark.parametrize("data", [b"\x78\x9f\x3e", b"\x78\x9f\x3e\x22\x01", b""])
def test_a_cut_winmail_is_a_value_error_the_caller_keeps_the_file_for(data: bytes) -> None:
    with pytest.raises(ValueError, match="could not be unpacked"):
        unpack(data)
