"""PostgreSQL: migrations up from nothing and back down, and URLs and errors as people meet
them (the spellings hosting providers hand out, a server that is not there)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

from storage import migrate
from storage.database import open_database
from storage.engine import make_engine, normalize_url
from storage.errors import DatabaseUnavailableError
from storage.models import Base
from tests.conftest import PostgresServer

pytestmark = pytest.mark.postgres_only("migrations and URLs of PostgreSQL")


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.fixture
async def empty_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    name = f"{postgres_server.template.removesuffix('_template')}_empty"
    await postgres_server.drop_database(name)
    yield await postgres_server.create_database(name, empty=True)
    await postgres_server.drop_database(name)


async def test_upgrade_from_empty_then_downgrade_to_base(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as connection:
            tables = await connection.run_sync(_tables)
        assert set(Base.metadata.tables) | {"track_search", "alembic_version"} == tables

        await migrate.downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}
        # Back up again: the functions, trigger and search configuration were all dropped.
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
async def test_the_usual_spellings_of_a_postgres_url_all_work(
    database_url: str, scheme: str
) -> None:
    url = make_url(database_url).set(drivername=scheme).render_as_string(hide_password=False)
    assert normalize_url(url).startswith("postgresql+asyncpg://")
    database = await open_database(url)
    await database.close()


def test_another_postgres_driver_is_refused_in_one_line() -> None:
    with pytest.raises(DatabaseUnavailableError, match="through asyncpg") as caught:
        make_engine("postgresql+psycopg2://bot:hunter2@db/earworm")
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot:hunter2@127.0.0.1:1/earworm",  # nothing listens there
        "postgres://earworm:hunter2@{server}/no_such_database_here",
    ],
)
async def test_unreachable_databases_are_one_line_without_the_password(
    postgres_server: PostgresServer, url: str
) -> None:
    server = make_url(postgres_server.url("x"))
    url = url.format(server=f"{server.host}:{server.port}")
    with pytest.raises(DatabaseUnavailableError, match="cannot open database") as caught:
        await open_database(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "***" in message
    assert "\n" not in message
