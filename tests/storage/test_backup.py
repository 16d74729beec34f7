"""`storage.backup`: a consistent copy of a live SQLite database, even while it is written,
and a clear refusal for every path it must not write."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.backup import BackupError, backup_sqlite, pg_dump_hint, sqlite_path
from storage.catalog.importer import import_catalog
from storage.database import Database, open_database
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import FeedbackEvent, record_feedback
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

pytestmark = pytest.mark.sqlite_only("SQLite's online backup")


def live_file(database_url: str) -> Path:
    return Path(make_url(database_url).database or "")


def rows_in(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def integrity(path: Path) -> tuple[str, str]:
    connection = sqlite3.connect(path)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()
    return verdict, mode


def bulk_up(path: Path, megabytes: int) -> None:
    """Pages enough that copying them takes a while (the bot's writes land meanwhile)."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE ballast (data BLOB)")
        connection.executemany(
            "INSERT INTO ballast VALUES (?)",
            [(os.urandom(100_000),) for _ in range(megabytes * 10)],
        )


async def test_a_backup_taken_while_feedback_is_written_is_consistent(
    database: Database, database_url: str, tmp_path: Path
):
    rows = [kaggle_row(i, track_id(i), f"Song {i}", "Band", "rock") for i in range(3)]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    source = live_file(database_url)
    await asyncio.to_thread(bulk_up, source, 20)
    target = tmp_path / "backups" / "earworm.db"
    target.parent.mkdir()

    # The bot's side: another connection storing feedback, one commit per event.
    writer = await open_database(database_url)
    stored = 0
    copied = asyncio.Event()

    async def write_feedback() -> None:
        nonlocal stored
        while not copied.is_set():
            async with writer.sessions() as session:
                event = FeedbackEvent(
                    user_id=1000 + stored,
                    guild_id=None,
                    track_id=track_id(stored % 3),
                    kind=FeedbackKind.LIKE,
                    source=FeedbackSource.REACTION,
                    message_id=10_000 + stored,
                )
                await record_feedback(session, event)
                await session.commit()
            stored += 1

    try:
        writing = asyncio.create_task(write_feedback())
        await asyncio.sleep(0.05)  # writes under way before the copy starts
        before = stored
        result = await asyncio.to_thread(backup_sqlite, source, target)
        during = stored - before
        copied.set()
        await writing
    finally:
        await writer.close()

    assert during > 0  # the database was written while it was copied
    assert result.target == target
    assert result.bytes == target.stat().st_size > 20_000_000
    assert integrity(target) == ("ok", "delete")  # one self-contained file
    assert before <= rows_in(target, "feedback") <= stored
    assert rows_in(target, "tracks") == 3
    assert not list(target.parent.glob(".*partial"))  # no temporary left behind


@pytest.fixture
def source(database: Database, database_url: str) -> Path:
    return live_file(database_url)


def test_an_existing_file_is_kept_unless_forced(source: Path, tmp_path: Path):
    target = tmp_path / "old.db"
    target.write_text("yesterday's backup")

    with pytest.raises(BackupError, match="already exists; pass --force"):
        backup_sqlite(source, target)
    assert target.read_text() == "yesterday's backup"

    backup_sqlite(source, target, force=True)
    assert integrity(target)[0] == "ok"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{source}", "is the live database itself"),
        ("{tmp}/missing/backup.db", "the folder {tmp}/missing does not exist"),
        ("{tmp}", "is a folder"),
        ("/proc/earworm-backup.db", "cannot write in /proc"),
    ],
)
def test_paths_it_must_not_write_are_refused_clearly(
    source: Path, tmp_path: Path, target: str, message: str
):
    path = Path(target.format(source=source, tmp=tmp_path))
    with pytest.raises(BackupError) as refused:
        backup_sqlite(source, path)
    assert message.format(tmp=tmp_path) in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not list(tmp_path.glob(".*partial"))


def test_a_missing_database_is_refused(tmp_path: Path):
    with pytest.raises(BackupError, match=r"no database at .*nothing to back up"):
        backup_sqlite(tmp_path / "none.db", tmp_path / "copy.db")
    assert not (tmp_path / "none.db").exists()  # not created by looking


def test_postgres_gets_a_pg_dump_hint_without_its_password():
    url = "postgresql+asyncpg://earworm:hunter2-secret@db.example:5432/earworm"
    with pytest.raises(BackupError, match="postgresql is not SQLite"):
        sqlite_path(url)
    hint = pg_dump_hint(url, "/backups/earworm.dump")
    assert "pg_dump --format=custom --file /backups/earworm.dump" in hint
    assert "'postgresql://earworm:***@db.example:5432/earworm'" in hint
    assert "hunter2" not in hint


def test_an_in_memory_database_has_nothing_to_back_up():
    with pytest.raises(BackupError, match="in-memory"):
        sqlite_path("sqlite+aiosqlite:///:memory:")
