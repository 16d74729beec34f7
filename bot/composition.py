"""The composition root: settings → database → services. Nothing else builds infrastructure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.settings import Settings
from storage.database import Database, open_database


@asynccontextmanager
async def database_for(settings: Settings) -> AsyncIterator[Database]:
    """The configured database, migrated to the newest schema, closed on exit."""
    db = await open_database(settings.resolved_database_url)
    try:
        yield db
    finally:
        await db.close()
