"""Open a database ready for use: engine, sessions, schema at head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import migrate
from storage.engine import make_engine, make_sessionmaker, one_line, redact
from storage.errors import DatabaseUnavailableError


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    async def ping(self) -> None:
        """One round trip that reads nothing: proves the database answers."""
        await _ping(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Connect to `url` and, unless told otherwise, migrate it to the newest schema."""
    engine = make_engine(url)
    try:
        await _ping(engine)
        if upgrade:
            await migrate.upgrade(engine)
    except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
        await engine.dispose()
        reason = one_line(getattr(exc, "orig", None) or exc)
        raise DatabaseUnavailableError(f"cannot open database {redact(url)}: {reason}") from None
    except BaseException:
        await engine.dispose()
        raise
    return Database(engine=engine, sessions=make_sessionmaker(engine))
