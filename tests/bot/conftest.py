from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import clean_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment for `earworm` subprocesses with a private data directory."""
    return clean_env(tmp_path / "data")
