"""Alembic environment: the app's metadata, the app's URL, async engines, SQLite batch mode."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from storage.engine import is_sqlite, make_engine
from storage.models import Base
from storage.search_schema import is_search_object

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The FTS5 table and its shadow tables are managed by hand in the migrations.
    return not (type_ == "table" and is_search_object(name))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from bot.settings import load_settings  # the alembic CLI path: read the app's settings

    return load_settings().resolved_database_url


async def _run_online() -> None:
    url = _database_url()
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            if is_sqlite(url):
                # Batch mode rebuilds tables; with foreign keys on, that would cascade.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    run_migrations_offline()
elif connection is not None:
    _run(connection)
else:
    asyncio.run(_run_online())
