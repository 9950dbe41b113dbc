"""Files kept by reference after a refused post (desk.uploads.kept_reference): good for
their agent and ticket only, for KEPT_SECONDS, and only while their bytes are stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import time_machine

from desk.config import load_settings
from desk.errors import ValidationFailed
from desk.uploads import KEPT_SECONDS, keep_upload, kept_reference, kept_uploads


async def test_a_reference_names_its_files_for_its_agent_ticket_and_hour(tmp_path: Path):
    settings = load_settings({"POSTDESK_DATA_DIR": str(tmp_path)}, read_dotenv=False)
    upload = await keep_upload(settings, "a.txt", "text/plain", b"hello\n")
    made = 1_000_000.0
    with time_machine.travel(made, tick=False):
        ref = kept_reference(settings, 7, 3, [upload])
    with time_machine.travel(made + 10, tick=False):
        assert kept_uploads(settings, 7, 3, ref) == [upload]
    assert kept_uploads(settings, 7, 3, "") == []
    for user, ticket, at, said in (
        (8, 3, made, "not yours"),
        (7, 4, made, "not yours"),
        (7, 3, made + KEPT_SECONDS + 1, "expired"),
    ):
        with time_machine.travel(at, tick=False), pytest.raises(ValidationFailed, match=said):
            kept_uploads(settings, user, ticket, ref)
    payload, _, signature = ref.rpartition(".")
    other = dataclasses.replace(
        settings, secret_key="another key, as long as a real one: " + "x" * 32
    )
    with time_machine.travel(made, tick=False):
        with pytest.raises(ValidationFailed, match="not yours"):
            kept_uploads(settings, 7, 3, payload[:-4] + "AAAA." + signature)
        with pytest.raises(ValidationFailed, match="not yours"):
            kept_uploads(other, 7, 3, ref)
        for blob in settings.attachments_dir.rglob(upload.sha256):
            blob.unlink()
        with pytest.raises(ValidationFailed, match="gone"):
            kept_uploads(settings, 7, 3, ref)
