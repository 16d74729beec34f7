"""`earworm db backup PATH` as an operator runs it: a copy that opens, a refusal to
overwrite, and a pg_dump hint (password hidden) on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.database import Database
from tests.cli import assert_one_line_error, clean_env, earworm


@pytest.mark.sqlite_only("backs up an SQLite file")
def test_backup_writes_a_copy_and_will_not_overwrite_it(
    database: Database, database_url: str, tmp_path: Path
):
    env = {**clean_env(tmp_path / "data"), "EARWORM_DATABASE_URL": database_url}
    target = tmp_path / "earworm-backup.db"

    made = earworm("db", "backup", str(target), env=env)

    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backed up ")
    assert f"to {target} (" in made.stdout
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()

    again = earworm("db", "backup", str(target), env=env)

    assert_one_line_error(again, str(target), "already exists; pass --force to replace it")


def test_on_postgres_it_prints_a_pg_dump_hint_without_the_password(tmp_path: Path):
    url = "postgresql+asyncpg://earworm:Pg-Pass-4242@127.0.0.1:1/earworm"
    env = {**clean_env(tmp_path / "data"), "EARWORM_DATABASE_URL": url}

    hinted = earworm("db", "backup", str(tmp_path / "earworm.dump"), env=env)

    assert_one_line_error(
        hinted, "pg_dump --format=custom", "'postgresql://earworm:***@127.0.0.1:1/earworm'"
    )
    assert "Pg-Pass-4242" not in hinted.stderr + hinted.stdout
    assert not (tmp_path / "earworm.dump").exists()
