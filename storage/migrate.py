"""Apply Alembic migrations from code, on the app's own engine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import MIGRATIONS_DIR
from storage.engine import one_line, redact
from storage.errors import DatabaseUnavailableError, MigrationError


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def _run_command(engine: AsyncEngine, action: str, revision: str) -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    sqlite = engine.dialect.name == "sqlite"
    try:
        async with engine.connect() as connection:
            if sqlite:
                # Batch migrations copy tables; with foreign keys on, SQLite would cascade.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                await connection.run_sync(run)
                await connection.commit()
                if sqlite:
                    broken = (
                        await connection.exec_driver_sql("PRAGMA foreign_key_check")
                    ).fetchall()
                    if broken:
                        raise DatabaseUnavailableError(
                            f"migration left {len(broken)} rows with broken foreign keys"
                        )
            finally:
                if sqlite:
                    await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    except CommandError as exc:
        raise MigrationError(f"cannot migrate to {revision!r}: {exc}") from None
    except (OperationalError, DBAPIError, OSError) as exc:
        reason = one_line(getattr(exc, "orig", None) or exc)
        raise DatabaseUnavailableError(
            f"cannot open database {redact(engine.url.render_as_string(hide_password=False))}: "
            f"{reason}"
        ) from None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (a no-op when it is already there)."""
    if revision == "head" and await _is_at_head(engine):
        return
    await _run_command(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run_command(engine, "downgrade", revision)


async def _is_at_head(engine: AsyncEngine) -> bool:
    try:
        return await current_revision(engine) == head_revision()
    except (OperationalError, DBAPIError, OSError):
        return False
