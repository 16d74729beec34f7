"""The SQLite full-text index over tracks, which lives outside the ORM metadata.

Migrations create it (FTS5 table, sync triggers, the `track_search_sync` switch); this
module names its objects and lets a bulk import refill it in one pass instead of row by row.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

SEARCH_TABLE = "track_search"
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


def is_search_object(name: str | None) -> bool:
    """FTS5 virtual table, its shadow tables and the sync switch: not ORM-managed."""
    return bool(name) and (name == SEARCH_TABLE or name.startswith(f"{SEARCH_TABLE}_"))


async def pause_sync(connection: AsyncConnection) -> None:
    """Stop the per-row triggers for this transaction (others never see the switch)."""
    await connection.exec_driver_sql("UPDATE track_search_sync SET paused = 1")


async def refill_and_resume(connection: AsyncConnection) -> None:
    """Rebuild the index from the tracks table, then switch the triggers back on."""
    await connection.exec_driver_sql(f"DELETE FROM {SEARCH_TABLE}")
    await connection.exec_driver_sql(REFILL)
    await connection.exec_driver_sql(
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES('optimize')"
    )
    await connection.exec_driver_sql("UPDATE track_search_sync SET paused = 0")
