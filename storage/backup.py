"""A consistent copy of a live SQLite database (`earworm db backup PATH`).

SQLite's online backup API copies every page inside one read transaction, so the copy is
the database as of one instant even while the bot keeps writing (in WAL mode writers do not
wait for the reader, and the copy does not restart when they commit). The copy is written
beside PATH under a temporary name, switched to a single self-contained file (no -wal),
checked, flushed to disk, and only then given its name: a crash leaves no half-written
backup under PATH. PostgreSQL has its own tool for this; `pg_dump_hint` says how.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.engine import is_sqlite, redact
from storage.errors import StorageError

log = logging.getLogger(__name__)
# Seconds the copy waits for a lock it cannot take at once (a checkpoint, a schema change).
LOCK_WAIT_SECONDS = 30.0


class BackupError(StorageError):
    """The backup cannot be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    source: Path
    target: Path
    bytes: int
    seconds: float


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL; BackupError for other databases and in-memory ones."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise BackupError(f"not a database URL: {redact(url)}") from None
    if not is_sqlite(url):
        raise BackupError(f"{parsed.get_backend_name()} is not SQLite; see pg_dump_hint")
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        raise BackupError("an in-memory database has nothing on disk to back up")
    return Path(parsed.database).expanduser()


def pg_dump_hint(url: str, target: str) -> str:
    """The pg_dump command that backs up a PostgreSQL database, password hidden."""
    try:
        plain = make_url(url).set(drivername="postgresql")
        shown = redact(plain.render_as_string(hide_password=False))
    except (ArgumentError, ValueError):
        shown = "<your database URL>"
    return (
        "the database is PostgreSQL: back it up with its own tool, e.g. "
        f"pg_dump --format=custom --file {target} '{shown}' "
        "(put the real password in PGPASSWORD or ~/.pgpass)."
    )


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the live database `source` to `target` (see the module docstring)."""
    started = time.perf_counter()
    source, target = source.resolve(), target.expanduser().absolute()
    _check_paths(source, target, force=force)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    log.info("backing up %s to %s", source, target)
    try:
        _copy(source, temporary)
        _fsync(temporary)
        _publish(temporary, target, force=force)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    result = BackupResult(source, target, target.stat().st_size, time.perf_counter() - started)
    log.info("backup checked and on disk: %d bytes in %.2f s", result.bytes, result.seconds)
    return result


def _check_paths(source: Path, target: Path, *, force: bool) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}; nothing to back up")
    if target.resolve() == source or (target.exists() and target.samefile(source)):
        raise BackupError(f"{target} is the live database itself; choose another path")
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup a file name")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; pass --force to replace it")
    folder = target.parent
    if not folder.is_dir():
        raise BackupError(f"the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write in {folder}: permission denied")


def _copy(source: Path, temporary: Path) -> None:
    try:
        copy = sqlite3.connect(temporary)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot write in {temporary.parent}: {exc}") from None
    try:
        try:
            live = sqlite3.connect(source, timeout=LOCK_WAIT_SECONDS)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot read the database {source}: {exc}") from None
        try:
            live.backup(copy)  # every page in one step: one read transaction, one instant
        finally:
            live.close()
        # One self-contained file: the copy carries the live file's WAL mode otherwise.
        copy.execute("PRAGMA journal_mode=DELETE")
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"the backup failed: {exc}") from None
    finally:
        copy.close()
    if verdict != "ok":
        raise BackupError(f"the copy failed its check ({verdict}); the live one may be damaged")


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish(temporary: Path, target: Path, *, force: bool) -> None:
    """Give the finished copy its name; without force, never over a file that appeared
    meanwhile (a hard link fails if the name is taken, where a rename would replace it)."""
    if force:
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise BackupError(f"{target} already exists; pass --force to replace it") from None
        except OSError:  # a file system without hard links: check, then rename
            if target.exists():
                raise BackupError(f"{target} already exists; pass --force to replace it") from None
            os.replace(temporary, target)
    # The new name must survive a power cut too: flush the folder's entry.
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
        _fsync(target.parent)
