from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.world import TRACKS
from tests.cli import clean_env, earworm
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment for `earworm` subprocesses with a private data directory."""
    return clean_env(tmp_path / "data")


@pytest.fixture
def imported(env: dict[str, str], tmp_path: Path) -> Path:
    """The data directory of a database holding TRACKS and no feedback."""
    rows = [
        kaggle_row(number, track_id(number), name, artist, genre, popularity=popularity)
        for number, name, artist, genre, popularity in TRACKS
    ]
    catalog = write_csv(tmp_path / "catalog.csv", KAGGLE_114K_HEADER, rows)
    result = earworm("catalog", "import", str(catalog), env=env)
    assert result.returncode == 0, result.stderr
    return Path(env["EARWORM_DATA_DIR"])
