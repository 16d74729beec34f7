"""The import directions of DEVELOPERS.md, enforced by import-linter (contracts in pyproject)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_our_packages_keep_their_import_directions() -> None:
    result = _lint(REPO_ROOT, REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contracts_fail_when_storage_imports_discord(tmp_path: Path) -> None:
    # A miniature project with the same contracts proves the check can fail.
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in ("bot", "recommender", "storage", "migrations"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "storage" / "leak.py").write_text("import discord\n")
    (tmp_path / "recommender" / "leak.py").write_text("from storage import leak\n")

    result = _lint(tmp_path, tmp_path)

    assert result.returncode != 0
    assert "storage.leak -> discord" in result.stdout
    assert "recommender.leak -> storage.leak" in result.stdout
