"""The listening-history settings: the Last.fm key is a secret (never printed, redacted from
logs), EARWORM_LISTENING reads on/off, and a bad value names its variable."""

from __future__ import annotations

import logging

import pytest

from bot.logs import REDACTED, RedactSecrets, secret_values
from bot.settings import SettingsError, load_settings

KEY = "0123456789abcdef0123456789abcdef"


def test_defaults_keep_the_bot_unprivileged_and_lastfm_off() -> None:
    settings = load_settings()
    assert settings.listening is False
    assert settings.lastfm_api_key is None
    assert not settings.lastfm_enabled
    assert settings.lastfm_api_url == "https://ws.audioscrobbler.com/2.0/"
    assert settings.import_max_bytes == 100 * 1024 * 1024


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("OFF", False), ("", False)])
def test_listening_reads_on_and_off(value: str, expected: bool) -> None:
    assert load_settings(EARWORM_LISTENING=value).listening is expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EARWORM_LISTENING", "sometimes", "EARWORM_LISTENING: expected on or off"),
        ("LASTFM_TIMEOUT", "0", "LASTFM_TIMEOUT"),
        ("EARWORM_IMPORT_MAX_BYTES", "12", "EARWORM_IMPORT_MAX_BYTES"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**{name: value})


def test_the_lastfm_key_is_a_secret() -> None:
    settings = load_settings(LASTFM_API_KEY=KEY)

    assert settings.lastfm_enabled
    assert KEY not in repr(settings)
    assert KEY in secret_values(settings)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "GET ?api_key=%s", (KEY,), None)
    RedactSecrets(secret_values(settings)).filter(record)
    assert record.getMessage() == f"GET ?api_key={REDACTED}"
    assert load_settings(LASTFM_API_KEY="  ").lastfm_api_key is None  # blank: not set
