"""Copy an SQLite deployment into PostgreSQL without losing a row.

The source may be in use: it is first copied with SQLite's online backup API (one read
transaction, so the copy is consistent while the bot keeps writing; rows written after it
are not copied). The copy is migrated to the newest schema, the target too; then every ORM
table goes over in foreign-key order, in batches, inside one transaction on the target,
which commits only when every table counts the same rows on both sides.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import migrate, search_schema
from storage.engine import is_postgres, make_engine, normalize_url, one_line, redact
from storage.errors import StorageError
from storage.models import Base

BATCH_SIZE = 5_000


class TransferError(StorageError):
    """The copy cannot start or did not add up; nothing was written to the target."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int


@dataclass(frozen=True, slots=True)
class TransferReport:
    source: Path
    target: str  # redacted
    snapshot_at: datetime
    tables: list[TableCount]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(count.target for count in self.tables)


def sqlite_path(source: str | Path) -> Path:
    """The file of an SQLite URL or path; TransferError when there is no database there."""
    text_form = str(source)
    if "://" in text_form:
        try:
            url = make_url(text_form)
        except ArgumentError:
            raise TransferError(f"not an SQLite path or URL: {text_form!r}") from None
        if not url.drivername.startswith("sqlite"):
            raise TransferError(
                f"the source must be an SQLite database, not {redact(text_form)}"
            ) from None
        text_form = url.database or ""
    path = Path(text_form).expanduser()
    if not text_form or text_form == ":memory:" or not path.is_file():
        raise TransferError(f"no SQLite database at {text_form or source!s}")
    return path


def postgres_url(target: str) -> str:
    """`target` normalised for asyncpg; TransferError unless it is a PostgreSQL URL."""
    if not is_postgres(target):
        shown = redact(target) if "://" in target else repr(target)
        raise TransferError(
            f"the target must be a PostgreSQL URL (postgresql://user:password@host/database), "
            f"not {shown}"
        )
    return normalize_url(target)


def _backup(source: Path, destination: Path) -> None:
    """SQLite's online backup: one consistent read of `source`; writers carry on."""
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(destination)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    except sqlite3.Error as exc:
        raise TransferError(f"cannot read the SQLite database {source}: {exc}") from None
    finally:
        reader.close()


async def _count(connection: AsyncConnection, table: Table) -> int:
    return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def _counts(connection: AsyncConnection) -> dict[str, int]:
    return {table.name: await _count(connection, table) for table in Base.metadata.sorted_tables}


async def _copy_table(
    source: AsyncConnection, target: AsyncConnection, table: Table, batch_size: int
) -> int:
    """Stream `table` in primary-key order and insert it in batches; rows copied."""
    copied = 0
    result = await source.stream(select(table).order_by(*table.primary_key.columns))
    async for rows in result.partitions(batch_size):
        await target.execute(table.insert(), [row._asdict() for row in rows])
        copied += len(rows)
    return copied


async def _reset_sequences(target: AsyncConnection) -> None:
    """Explicit ids leave each serial's sequence at 1: move it past the copied rows."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                await target.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"coalesce(max({column.name}), 1), max({column.name}) IS NOT NULL) "
                        f"FROM {table.name}"
                    )
                )


def _holding_rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {rows:,}" for name, rows in counts.items() if rows)


async def _transfer(
    snapshot: AsyncEngine,
    target: AsyncEngine,
    batch_size: int,
    on_table: Callable[[str, int], None],
) -> list[TableCount]:
    async with snapshot.connect() as source, target.begin() as destination:
        existing = await _counts(destination)
        if any(existing.values()):
            raise TransferError(
                f"the target already holds rows ({_holding_rows(existing)}); "
                "copy into a new, empty database"
            )
        await search_schema.pause_sync(destination)
        for table in Base.metadata.sorted_tables:
            on_table(table.name, await _copy_table(source, destination, table, batch_size))
        await _reset_sequences(destination)
        await search_schema.refill_and_resume(destination)
        source_counts = await _counts(source)
        target_counts = await _counts(destination)
        counts = [
            TableCount(name, source_counts[name], target_counts[name]) for name in source_counts
        ]
        wrong = [count for count in counts if count.source != count.target]
        if wrong:  # leaving the block by an exception rolls the whole copy back
            raise TransferError(
                "row counts differ, nothing was kept: "
                + ", ".join(f"{c.table} {c.source:,} -> {c.target:,}" for c in wrong)
            )
    return counts


async def copy_sqlite_to_postgres(
    source: str | Path,
    target: str,
    *,
    batch_size: int = BATCH_SIZE,
    scratch_dir: Path | None = None,
    on_table: Callable[[str, int], None] = lambda _table, _rows: None,
) -> TransferReport:
    """Copy the SQLite database at `source` (a path or URL) into the PostgreSQL database
    `target`, which must hold no rows yet. `scratch_dir` holds the snapshot meanwhile (the
    system's temporary folder by default: it needs room for one copy of the database).

    Raises TransferError (or DatabaseUnavailableError) with a one-line message; then
    nothing was written to the target."""
    started = time.perf_counter()
    source_path = sqlite_path(source)
    target_url = postgres_url(target)
    if batch_size < 1:
        raise TransferError("the batch size must be at least 1")
    with tempfile.TemporaryDirectory(prefix="earworm-transfer-", dir=scratch_dir) as folder:
        snapshot_path = Path(folder) / "snapshot.db"
        snapshot_at = datetime.now(UTC)
        await asyncio.to_thread(_backup, source_path, snapshot_path)
        snapshot = make_engine(f"sqlite+aiosqlite:///{snapshot_path}")
        target_engine = make_engine(target_url)
        try:
            # An older deployment gets the newest schema first, on the copy only.
            await migrate.upgrade(snapshot)
            await migrate.upgrade(target_engine)
            counts = await _transfer(snapshot, target_engine, batch_size, on_table)
        except StatementError as exc:
            reason = one_line(getattr(exc, "orig", None) or exc)
            raise TransferError(f"copy failed, nothing was kept: {reason}") from None
        finally:
            await snapshot.dispose()
            await target_engine.dispose()
    return TransferReport(
        source=source_path,
        target=redact(target_url),
        snapshot_at=snapshot_at,
        tables=counts,
        seconds=time.perf_counter() - started,
    )
