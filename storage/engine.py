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
# PostgreSQL: connections per process. The bot holds few at once (the feedback writer, a
# command or two, training reads); overflow absorbs bursts without a queue.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 10
# Seconds to wait for a PostgreSQL server before giving up (asyncpg's default is 60).
POSTGRES_CONNECT_TIMEOUT = 10
# The spellings people and hosting providers use for PostgreSQL; all run on asyncpg.
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+asyncpg"}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql:", "postgresql+", "postgres:"))


def redact(url: str) -> str:
    """The URL with any password hidden, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<unparseable database URL>"


def one_line(error: BaseException) -> str:
    """A driver's error as one line (PostgreSQL's come with DETAIL and HINT lines)."""
    return " ".join(str(error).split()) or type(error).__name__


def normalize_url(url: str) -> str:
    """`url` with the async driver Earworm uses: aiosqlite for SQLite, asyncpg for PostgreSQL.

    Raises DatabaseUnavailableError for text that is not a database URL, or for a
    PostgreSQL driver other than asyncpg (the password never shows in the message)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseUnavailableError(
            "the database URL cannot be read: write it as sqlite:///path/earworm.db or "
            "postgresql://user:password@host:5432/database"
        ) from None
    if parsed.drivername == "sqlite" or parsed.drivername.startswith("sqlite+"):
        # The async engine needs an async driver; accept the plain form people write.
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in _POSTGRES_DRIVERS:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername.startswith(("postgresql+", "postgres+")):
        raise DatabaseUnavailableError(
            f"cannot use database {redact(url)}: Earworm talks to PostgreSQL through asyncpg; "
            "write the URL as postgresql://user:password@host/database"
        )
    elif parsed.drivername != "sqlite+aiosqlite":
        raise DatabaseUnavailableError(
            f"cannot use database {redact(url)}: Earworm runs on SQLite or PostgreSQL "
            "(sqlite:///path/earworm.db or postgresql://user:password@host/database)"
        )
    return parsed.render_as_string(hide_password=False)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"cannot create the folder for the database {database}: {exc.strerror}"
            ) from None


# Each SQLite connection's page cache (SQLite's default is 2 MiB). At two million feedback
# rows the feedback table's indexes outgrow 2 MiB many times over: the feedback writer's
# inserts and members' reads then fetch their pages again and again, and under load the
# writer fell behind (docs/performance.md, "SQLite's page cache"). The pool keeps five
# connections open between uses (more close on return), so the caches stay under about
# 160 MiB; pages are taken only as they are read.
SQLITE_CACHE_KIB = 32 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while the importer or the feedback writer holds the write lock;
    # foreign keys are off by default in SQLite; the busy timeout makes writers queue
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _engine_options(url: str) -> dict[str, Any]:
    if is_postgres(url):
        return {
            # A server restart or an idle-connection reaper must not fail the next command.
            "pool_pre_ping": True,
            "pool_size": POSTGRES_POOL_SIZE,
            "max_overflow": POSTGRES_MAX_OVERFLOW,
            "connect_args": {"timeout": POSTGRES_CONNECT_TIMEOUT},
        }
    return {}


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url` (SQLite or PostgreSQL, see normalize_url); SQLite files
    get their folder created and sane pragmas, PostgreSQL a pre-pinged pool."""
    url = normalize_url(url)
    if is_sqlite(url):
        _prepare_sqlite_file(url)
    try:
        engine = create_async_engine(url, echo=echo, **_engine_options(url))
    except (ArgumentError, ImportError, TypeError) as exc:
        raise DatabaseUnavailableError(
            f"cannot use database {redact(url)}: {one_line(exc)}"
        ) from None
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
