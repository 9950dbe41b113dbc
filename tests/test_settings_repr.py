"""Settings as logs and tracebacks show them: every setting there, no secret readable."""

from __future__ import annotations

from desk.config import load_settings

SECRETS = {
    "POSTDESK_SECRET_KEY": "the-secret-key-0123456789-0123456789",
    "POSTDESK_DATABASE_URL": "postgresql+asyncpg://desk:db-pass-9@db.internal:5432/desk",
    "POSTDESK_REDIS_URL": "redis://:redis-pass-8@cache.internal:6379/0",
    "POSTDESK_RELAY_URL": "smtps://mailer:relay-pass-7@relay.example.com:465",
    "POSTDESK_IMAP_URLS": "imaps://inbox:imap-pass-6@imap.example.com/INBOX,"
    "imap://other@imap.example.org/Support",
    "POSTDESK_MAILGUN_SIGNING_KEY": "mailgun-key-5",
    "POSTDESK_GEMINI_API_KEY": "gemini-key-4",
}


def test_repr_hides_secrets_and_passwords(tmp_path):
    settings = load_settings({**SECRETS, "POSTDESK_DATA_DIR": str(tmp_path)}, read_dotenv=False)
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        for secret in ("the-secret-key", "pass-", "mailgun-key", "gemini-key"):
            assert secret not in shown
        # What an operator needs to tell which servers are meant stays readable.
        assert "postgresql+asyncpg://desk:**********@db.internal:5432/desk" in shown
        assert "redis://:**********@cache.internal:6379/0" in shown
        assert "smtps://mailer:**********@relay.example.com:465" in shown
        assert "imaps://inbox:**********@imap.example.com/INBOX" in shown
        assert "imap://other@imap.example.org/Support" in shown  # no password: as it is
        assert "secret_key='**********'" in shown
        assert "gemini_api_key='**********'" in shown
        assert "smtp_port=2525" in shown
    # The values themselves are untouched.
    assert settings.secret_key == SECRETS["POSTDESK_SECRET_KEY"]
    assert settings.database_url == SECRETS["POSTDESK_DATABASE_URL"]


def test_repr_of_unset_secrets(tmp_path):
    settings = load_settings({"POSTDESK_DATA_DIR": str(tmp_path)}, read_dotenv=False)
    shown = repr(settings)
    assert "relay_url=None" in shown and "gemini_api_key=None" in shown
    assert "imap_urls=()" in shown
    assert f"sqlite+aiosqlite:///{tmp_path}" in shown
    assert settings.secret_key not in shown
