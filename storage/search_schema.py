"""The full-text index over tracks, which lives outside the ORM metadata.

Migrations create it: on SQLite an FTS5 table with sync triggers and the
`track_search_sync` switch (revision 0001); on PostgreSQL a `track_search` table of
tsvectors with a GIN index and a row trigger (revision 0003). This module names its
objects and lets a bulk import refill it in one pass instead of row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String

SEARCH_TABLE = "track_search"
# PostgreSQL: the text search configuration of documents and queries alike.
POSTGRES_CONFIG = "earworm_search"
COLUMNS = "track_id, name, artists, album, popularity"
# The same folding as the triggers: apostrophes dropped, so "dont" finds "Don't".
_FOLD = "replace(replace({}, char(39), ''), char(8217), '')"
_STORED_ROW = ", ".join(
    [
        "id",
        _FOLD.format("name"),
        _FOLD.format("artist_names"),
        _FOLD.format("coalesce(album, '')"),
        "popularity",
    ]
)
# Most popular first: rowid order is then popularity order, which search relies on to
# rank a very common word among the popular tracks first.
REFILL = (
    f"INSERT INTO {SEARCH_TABLE} ({COLUMNS}) SELECT {_STORED_ROW} FROM tracks "
    "ORDER BY coalesce(popularity, -1) DESC, id"
)
_POSTGRES_REFILL = """
    INSERT INTO track_search (track_id, document, popularity)
    SELECT id, earworm_search_document(name, artist_names, album), popularity
    FROM tracks {where}
    ON CONFLICT (track_id) DO UPDATE
    SET document = excluded.document, popularity = excluded.popularity
"""
_POSTGRES_REFILL_ALL = text(_POSTGRES_REFILL.format(where=""))
_POSTGRES_REFILL_SOME = text(_POSTGRES_REFILL.format(where="WHERE id = ANY(:ids)")).bindparams(
    bindparam("ids", type_=ARRAY(String))
)
_POSTGRES_REFILL_CHUNK = 10_000


def is_search_object(name: str | None) -> bool:
    """The search table, its FTS5 shadow tables and the sync switch: not ORM-managed."""
    return bool(name) and (name == SEARCH_TABLE or name.startswith(f"{SEARCH_TABLE}_"))


async def pause_sync(connection: AsyncConnection) -> None:
    """Stop the per-row triggers for this transaction (others never see the switch)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT set_config('earworm.search_paused', 'on', true)"))
        return
    await connection.exec_driver_sql("UPDATE track_search_sync SET paused = 1")


async def refill_and_resume(
    connection: AsyncConnection, changed: Sequence[str] | None = None
) -> None:
    """Bring the index up to date with the tracks table, then switch the triggers back on.

    SQLite rebuilds the whole index (its rowid order is the popularity order search needs);
    PostgreSQL rewrites the rows of the `changed` track ids, or of every track when None."""
    if connection.dialect.name == "postgresql":
        if changed is None:
            await connection.execute(_POSTGRES_REFILL_ALL)
        else:
            for start in range(0, len(changed), _POSTGRES_REFILL_CHUNK):
                chunk = list(changed[start : start + _POSTGRES_REFILL_CHUNK])
                await connection.execute(_POSTGRES_REFILL_SOME, {"ids": chunk})
        await connection.execute(text("SELECT set_config('earworm.search_paused', 'off', true)"))
        return
    await connection.exec_driver_sql(f"DELETE FROM {SEARCH_TABLE}")
    await connection.exec_driver_sql(REFILL)
    await connection.exec_driver_sql(
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES('optimize')"
    )
    await connection.exec_driver_sql("UPDATE track_search_sync SET paused = 0")
