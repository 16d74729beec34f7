from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.catalog.importer import import_catalog
from storage.database import open_database
from tests.bot.world import TRACKS
from tests.cli import clean_env, database_url_in
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
    data_dir = Path(env["EARWORM_DATA_DIR"])
    # In this process: the same import `earworm catalog import` runs, without the second
    # or two a Python process takes to start (hundreds of tests use this fixture).
    asyncio.run(_import_catalog(data_dir, catalog))
    return data_dir


async def _import_catalog(data_dir: Path, catalog: Path) -> None:
    database = await open_database(database_url_in(data_dir))
    try:
        await import_catalog(database, [str(catalog)], download_dir=data_dir / "downloads")
    finally:
        await database.close()
