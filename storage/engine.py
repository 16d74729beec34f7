"""Engine and session factories. Nothing here is a module-level global."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.errors import DatabaseUnavailableError

SQLITE_BUSY_TIMEOUT_MS = 5_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def redact(url: str) -> str:
    """The URL with any password hidden, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"cannot create the folder for the database {database}: {exc.strerror}"
            ) from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while the importer or the feedback writer holds the write lock;
    # foreign keys are off by default in SQLite; the busy timeout makes writers queue
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`; SQLite files get their folder created and sane pragmas."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailableError(f"not a database URL: {url!r}") from None
    if is_sqlite(url):
        if parsed.drivername == "sqlite":
            # The async engine needs an async driver; accept the plain form people write.
            url = parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
        _prepare_sqlite_file(url)
    try:
        engine = create_async_engine(url, echo=echo)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailableError(f"cannot use database {redact(url)}: {exc}") from None
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
