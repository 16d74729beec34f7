"""Run `earworm` as a user would: a real process, its own environment, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without any Earworm, Discord or Spotify settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EARWORM_", "DISCORD_", "SPOTIFY_"))
    }
    return {**env, "EARWORM_DATA_DIR": str(data_dir), "EARWORM_LOG_LEVEL": "WARNING"}


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
