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
    assert "Contracts: 6 kept, 0 broken." in result.stdout


BOT_PARTS = (
    "cli", "bench", "demo", "exts", "ui", "http", "learning", "serving",
)  # fmt: skip
BOT_MODULES = ("app", "command_sync", "composition", "logs", "settings", "errors")


def _packages(root: Path) -> None:
    """Empty packages and modules with the project's names: the contracts need them all."""
    for package in ("bot", "recommender", "storage", "migrations"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for part in BOT_PARTS:
        (root / "bot" / part).mkdir()
        (root / "bot" / part / "__init__.py").write_text("")
    for module in BOT_MODULES:
        (root / "bot" / f"{module}.py").write_text("")


def test_the_bot_contracts_fail_when_a_part_imports_against_its_direction(
    tmp_path: Path,
) -> None:
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    _packages(tmp_path)
    (tmp_path / "bot" / "serving" / "leak.py").write_text("import discord\nimport bot.ui\n")
    (tmp_path / "bot" / "http" / "leak.py").write_text("import bot.app\n")
    (tmp_path / "bot" / "app.py").write_text("import bot.bench\n")
    (tmp_path / "bot" / "learning" / "leak.py").write_text("import bot.exts\n")
    (tmp_path / "bot" / "serving" / "up.py").write_text("import bot.learning\n")

    result = _lint(tmp_path, tmp_path)

    assert result.returncode != 0
    for found in (
        "bot.serving.leak -> discord",
        "bot.serving.leak -> bot.ui",
        "bot.http.leak -> bot.app",
        "bot.app -> bot.bench",
        "bot.learning.leak -> bot.exts",
        "bot.serving.up -> bot.learning",
    ):
        assert found in result.stdout, found


def test_the_bot_package_keeps_a_small_top_level() -> None:
    """bot/ holds the composition only; the parts live in folders that name them."""
    top = sorted(path.name for path in (REPO_ROOT / "bot").glob("*.py"))
    assert len(top) <= 12, top
    assert {f"{module}.py" for module in BOT_MODULES} <= set(top)


def test_the_contracts_fail_when_storage_imports_discord(tmp_path: Path) -> None:
    # A miniature project with the same contracts proves the check can fail.
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    _packages(tmp_path)
    (tmp_path / "storage" / "leak.py").write_text("import discord\n")
    (tmp_path / "recommender" / "leak.py").write_text("from storage import leak\n")

    result = _lint(tmp_path, tmp_path)

    assert result.returncode != 0
    assert "storage.leak -> discord" in result.stdout
    assert "recommender.leak -> storage.leak" in result.stdout
