"""Models and migrations agree; upgrade from empty and downgrade to base both work."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage import migrate
from storage.database import Database
from storage.engine import SQLITE_CACHE_KIB, make_engine
from storage.models import Base
from storage.search_schema import is_search_object


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, type_, _parents: (
                not (type_ == "table" and is_search_object(name))
            ),
        },
    )
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_models_and_migrations_agree(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


@pytest.mark.sqlite_only(
    "PostgreSQL's per-test databases come migrated; test_postgres_migrations.py runs this there"
)
async def test_upgrade_from_empty_then_downgrade_to_base(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set()
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as connection:
            tables = await connection.run_sync(_tables)
        assert set(Base.metadata.tables) <= tables
        assert "track_search" in tables

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}

        await migrate.upgrade(engine)  # and back up again, cleanly
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


@pytest.mark.sqlite_only("PRAGMAs")
async def test_sqlite_runs_in_wal_with_foreign_keys_busy_timeout_and_a_page_cache(
    database: Database,
) -> None:
    async with database.engine.connect() as connection:
        journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
        foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        cache = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    assert journal == "wal"
    assert foreign_keys == 1
    assert timeout >= 1000
    assert cache == -SQLITE_CACHE_KIB  # KiB, not pages: far above SQLite's 2 MiB default


async def test_upgrade_at_head_is_a_no_op(database: Database) -> None:
    before = await migrate.current_revision(database.engine)
    await migrate.upgrade(database.engine)
    assert await migrate.current_revision(database.engine) == before == migrate.head_revision()
