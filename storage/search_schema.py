"""Names of the SQLite full-text search objects that live outside the ORM metadata."""

SEARCH_TABLE = "track_search"


def is_search_object(name: str | None) -> bool:
    """FTS5 virtual table and its shadow tables: created by migrations, unknown to the ORM."""
    return bool(name) and (name == SEARCH_TABLE or name.startswith(f"{SEARCH_TABLE}_"))
