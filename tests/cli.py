"""Run `earworm` as a user would: a real process, its own environment, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def postgres_test_database() -> str | None:
    """The test's PostgreSQL database when the suite runs on PostgreSQL (tests/conftest.py
    sets EARWORM_DATABASE_URL for every test then), else None."""
    if not os.environ.get("EARWORM_TEST_POSTGRES_URL"):
        return None
    return os.environ.get("EARWORM_DATABASE_URL") or None


def database_url_in(data_dir: Path) -> str:
    """The database `earworm` uses with this data directory and clean_env's environment:
    its SQLite file, or the test's PostgreSQL database."""
    return postgres_test_database() or f"sqlite+aiosqlite:///{data_dir / 'earworm.db'}"


def clean_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without any Earworm, Discord or Spotify settings (but
    the test's database when the suite runs on PostgreSQL)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EARWORM_", "DISCORD_", "SPOTIFY_"))
    }
    env.update({"EARWORM_DATA_DIR": str(data_dir), "EARWORM_LOG_LEVEL": "WARNING"})
    if (url := postgres_test_database()) is not None:
        env["EARWORM_DATABASE_URL"] = url
    return env


def earworm(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
