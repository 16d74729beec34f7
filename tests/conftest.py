"""Fixtures shared by every test package: a fresh, migrated database per test.

SQLite by default (a file in the test's tmp_path). With EARWORM_TEST_POSTGRES_URL set (a
superuser URL of a PostgreSQL server's `postgres` database) every test gets a PostgreSQL
database of its own instead: each pytest process migrates a template database once, and a
test's database is a copy of it (`CREATE DATABASE ... TEMPLATE`, milliseconds), dropped
after the test. EARWORM_DATABASE_URL points at it for the whole test, so settings built in
the test and `earworm` subprocesses (tests/cli.py) use it too.

Tests marked `sqlite_only(reason)` are skipped on PostgreSQL, `postgres_only(reason)` ones
without it. `database_neutral(reason)` marks tests whose outcome does not depend on the
database (none opened, SQLite files of their own, or real-data checks whose storage part
another test runs on PostgreSQL): the PostgreSQL pass skips them rather than repeat them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from storage.database import Database, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EARWORM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SPOTIFY_CATALOG = SHARED_DATA / "spotify_catalog"
LASTFM = SHARED_DATA / "lastfm_hetrec2k"


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when the shared datasets are not beside the checkout."""
    if not path.exists():
        pytest.skip(f"real dataset not found at {path} (set EARWORM_SHARED_DATA)")
    return path


# A superuser URL of a PostgreSQL server (its `postgres` database), or None: SQLite.
POSTGRES_SERVER = os.environ.get("EARWORM_TEST_POSTGRES_URL", "").strip() or None


class PostgresServer:
    """Creates and drops this process's databases on the test server. Names carry the
    xdist worker and the pid, so parallel workers and runs never share one."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._admin_dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._url = parsed.set(drivername="postgresql+asyncpg")
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._prefix = f"earworm_test_{worker}_{os.getpid()}"
        self.template = f"{self._prefix}_template"

    def url(self, name: str) -> str:
        return self._url.set(database=name).render_as_string(hide_password=False)

    def database_name(self, number: int) -> str:
        return f"{self._prefix}_{number}"

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self._admin_dsn)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def create_template(self) -> None:
        await self._admin(
            f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)',
            f'CREATE DATABASE "{self.template}"',
        )
        database = await open_database(self.url(self.template))
        await database.close()

    async def drop_template(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    async def create_database(self, name: str, *, empty: bool = False) -> str:
        """A new database: a copy of the migrated template, or with no schema at all."""
        template = "template0" if empty else self.template
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        # FORCE: a test may leave a bot subprocess or an undisposed engine connected.
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reason(marker: pytest.Mark) -> str:
    return str(marker.args[0] if marker.args else marker.kwargs.get("reason", "")).strip()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if POSTGRES_SERVER is not None and (marker := item.get_closest_marker("sqlite_only")):
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {_reason(marker)}"))
        if POSTGRES_SERVER is not None and (marker := item.get_closest_marker("database_neutral")):
            item.add_marker(pytest.mark.skip(reason=f"the same on any database: {_reason(marker)}"))
        if POSTGRES_SERVER is None and (marker := item.get_closest_marker("postgres_only")):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"PostgreSQL only ({_reason(marker)}): set EARWORM_TEST_POSTGRES_URL"
                )
            )


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run `coroutine` to the end in a thread of its own: fixtures may be set up while a
    test's event loop is running."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This process's view of the test server, with its migrated template database."""
    if POSTGRES_SERVER is None:
        pytest.skip("PostgreSQL tests need EARWORM_TEST_POSTGRES_URL")
    server = PostgresServer(POSTGRES_SERVER)
    _run(server.create_template())
    try:
        yield server
    finally:
        _run(server.drop_template())


_numbers = itertools.count()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema: an SQLite file, or a PostgreSQL database."""
    if POSTGRES_SERVER is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'earworm.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.database_name(next(_numbers))
    url = _run(server.create_database(name))
    try:
        yield url
    finally:
        _run(server.drop_database(name))


@pytest.fixture(autouse=True)
def _postgres_everywhere(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, the test's database is the one every setting resolves to."""
    if POSTGRES_SERVER is None:
        return
    monkeypatch.setenv("EARWORM_DATABASE_URL", request.getfixturevalue("database_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    try:
        yield db
    finally:
        await db.close()
