"""bot/logs.py: secrets redacted from every log record, and JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import REDACTED, RedactSecrets, StderrHandler, configure_logging, secret_values
from bot.settings import load_settings
from storage.database import Database
from tests.cli import clean_env, earworm

TOKEN = "discord-token-Zk9x.abc"
SECRETS = {
    "DISCORD_TOKEN": TOKEN,
    "SPOTIFY_CLIENT_SECRET": "spotify-secret-5f3b9c",
    "EARWORM_API_TOKEN": "api-token-77e1d0aa",
    # A password with characters a URL must encode: it can show up either way.
    "EARWORM_DATABASE_URL": "postgresql+asyncpg://earworm:pa%40ss-w0rd!@127.0.0.1:1/earworm",
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    sys.excepthook = hook


def test_every_secret_is_known_in_each_spelling_it_can_take():
    values = secret_values(load_settings(**SECRETS))
    assert TOKEN in values
    assert "spotify-secret-5f3b9c" in values
    assert "api-token-77e1d0aa" in values
    assert {"pa@ss-w0rd!", "pa%40ss-w0rd%21", "pa%40ss-w0rd!"} <= set(values)


def record(
    message: str, *args: object, exc_info: object = None, sinfo: str | None = None
) -> logging.LogRecord:
    return logging.LogRecord(
        "test",
        logging.ERROR,
        __file__,
        1,
        message,
        args,
        exc_info,
        sinfo=sinfo,  # type: ignore[arg-type]
    )


def test_the_filter_redacts_message_arguments_traceback_and_stack():
    secrets = RedactSecrets([TOKEN, "abc"])  # too short to redact: it would hit plain words
    try:
        raise RuntimeError(f"Discord said no to {TOKEN}")
    except RuntimeError:
        failed = record("login with %s failed", TOKEN, exc_info=sys.exc_info(), sinfo=TOKEN)

    assert secrets.filter(failed)
    text = logging.Formatter().format(failed)
    assert TOKEN not in text
    assert f"login with {REDACTED} failed" in text
    assert f"RuntimeError: Discord said no to {REDACTED}" in text
    plain = record("nothing %s here", "abc")
    assert secrets.filter(plain)
    assert plain.args == ("abc",)  # untouched when there is nothing to hide


def test_configured_twice_logs_once(restore_logging: None):
    settings = load_settings(**SECRETS)
    configure_logging(settings)
    configure_logging(settings)
    assert sum(isinstance(h, StderrHandler) for h in logging.getLogger().handlers) == 1


def test_json_lines_carry_timestamp_level_logger_message_and_exception(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
):
    configure_logging(load_settings(EARWORM_LOG_FORMAT="json", **SECRETS))
    log = logging.getLogger("earworm.test")
    log.info("plain %s", "words")
    try:
        raise ValueError(f"bad token {TOKEN}\nsecond line")
    except ValueError:
        log.exception("it failed for %s", TOKEN)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert {"timestamp", "level", "logger", "message"} <= first.keys()
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "earworm.test",
        "plain words",
    )
    assert "exception" not in first
    assert second["message"] == f"it failed for {REDACTED}"
    assert second["exception"].startswith("Traceback")
    assert f"ValueError: bad token {REDACTED}\nsecond line" in second["exception"]
    assert TOKEN not in "\n".join(lines)


@pytest.mark.sqlite_only("backs up an SQLite file")
def test_a_cli_command_logs_json_lines_on_request(
    database: Database, database_url: str, tmp_path: Path
):
    env = {
        **clean_env(tmp_path / "data"),
        "EARWORM_DATABASE_URL": database_url,
        "EARWORM_LOG_FORMAT": "json",
        "EARWORM_LOG_LEVEL": "INFO",
    }
    result = earworm("db", "backup", str(tmp_path / "copy.db"), env=env)

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) >= 2  # what it backs up, and that the copy is checked
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "logger", "message"} <= entry.keys(), entry
    assert json.loads(lines[0])["logger"] == "storage.backup"


def test_cli_errors_and_debug_logs_never_show_a_secret(tmp_path: Path):
    env = {**clean_env(tmp_path / "data"), **SECRETS, "EARWORM_LOG_LEVEL": "DEBUG"}

    result = earworm("catalog", "stats", env=env)  # nothing listens on port 1

    assert result.returncode == 2
    assert "cannot open database postgresql+asyncpg://earworm:***@127.0.0.1:1/earworm" in (
        result.stderr
    )
    output = result.stdout + result.stderr
    for secret in (*secret_values(load_settings(**SECRETS)), "pa@ss"):
        assert secret not in output


@pytest.mark.parametrize(
    ("variables", "args", "fragment"),
    [
        # A bad input to a command: the database is unreachable (and has a password).
        ({**SECRETS, "EARWORM_LOG_LEVEL": "CRITICAL"}, ("catalog", "stats"), "cannot open"),
        # Logging is not configured yet: a setting failed to load.
        ({"EARWORM_COOLDOWN_USES": "0"}, ("catalog", "stats"), "EARWORM_COOLDOWN_USES"),
        # A command's own check.
        ({}, ("simulate", "--users", "0"), "--users must be 1 or more"),
    ],
)
def test_cli_errors_are_json_lines_when_logs_are_json(
    tmp_path: Path, variables: dict[str, str], args: tuple[str, ...], fragment: str
):
    env = {**clean_env(tmp_path / "data"), **variables, "EARWORM_LOG_FORMAT": "json"}

    result = earworm(*args, env=env)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()  # one line, whatever the log level
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert {"timestamp", "logger", "message"} <= entry.keys()
    assert fragment in entry["message"]
    assert not entry["message"].startswith("error:")
    for secret in (*secret_values(load_settings(**SECRETS)), "pa@ss"):
        assert secret not in line
