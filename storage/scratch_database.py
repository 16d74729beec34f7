"""Throwaway PostgreSQL databases on a server, for benchmarks that must start from a known
state and leave nothing behind (`earworm bench load --database postgres`)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url

from storage.engine import is_postgres, normalize_url, one_line, redact
from storage.errors import DatabaseUnavailableError


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailableError(
            f"cannot reach PostgreSQL at {redact(server_url)}: {one_line(exc)}"
        ) from None
    try:
        await connection.execute(statement)
    except asyncpg.PostgresError as exc:
        raise DatabaseUnavailableError(
            f"PostgreSQL at {redact(server_url)} refused: {one_line(exc)}"
        ) from None
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def scratch_postgres_database(server_url: str, purpose: str) -> AsyncIterator[str]:
    """A new, empty database on the server `server_url` names (a URL of any database
    there, e.g. .../postgres, as a user allowed to create databases); yields its URL and
    drops it afterwards, also after a failure."""
    if not is_postgres(server_url):
        raise DatabaseUnavailableError(
            f"expected a PostgreSQL server URL (postgresql://user@host/postgres), "
            f"not {redact(server_url)}"
        )
    name = f"earworm_{purpose}_{os.getpid()}_{time.time_ns()}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield normalize_url(make_url(server_url).set(database=name).render_as_string(False))
    finally:
        # FORCE: a bot that failed half-way may still hold connections.
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
