"""Fixtures shared by every test package: a fresh, migrated SQLite database per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EARWORM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SPOTIFY_CATALOG = SHARED_DATA / "spotify_catalog"
LASTFM = SHARED_DATA / "lastfm_hetrec2k"


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when the shared datasets are not beside the checkout."""
    if not path.exists():
        pytest.skip(f"real dataset not found at {path} (set EARWORM_SHARED_DATA)")
    return path


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'earworm.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    try:
        yield db
    finally:
        await db.close()
