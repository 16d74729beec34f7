"""Settings: defaults, the environment, `.env`, and one clear line per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

VARIABLES = (
    "EARWORM_DATA_DIR",
    "EARWORM_DATABASE_URL",
    "EARWORM_CATALOG",
    "EARWORM_LOG_LEVEL",
    "DISCORD_TOKEN",
    "SPOTIFY_CLIENT_ID",
    "SPOTIFY_CLIENT_SECRET",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def test_defaults_put_an_sqlite_file_in_the_data_dir() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.resolved_database_url == "sqlite+aiosqlite:///data/earworm.db"
    assert settings.discord_token is None
    assert settings.spotify_enabled is False


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARWORM_DATA_DIR", "/srv/earworm")
    monkeypatch.setenv("EARWORM_LOG_LEVEL", "debug")
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "id")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "shh")
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite+aiosqlite:////srv/earworm/earworm.db"
    assert settings.log_level == "DEBUG"
    assert settings.spotify_enabled is True


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "EARWORM_DATABASE_URL=postgresql+asyncpg://bot@db/earworm\nDISCORD_TOKEN=abc.def\n"
    )
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql+asyncpg://bot@db/earworm"
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "super-secret-token")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "spotify-secret")
    text = repr(load_settings()) + str(load_settings())
    assert "super-secret-token" not in text
    assert "spotify-secret" not in text


def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARWORM_DATABASE_URL", "  ")
    monkeypatch.setenv("EARWORM_CATALOG", "")
    settings = load_settings()
    assert settings.database_url is None
    assert settings.catalog is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EARWORM_LOG_LEVEL", "chatty"),
        ("EARWORM_DATABASE_URL", "earworm.db"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
