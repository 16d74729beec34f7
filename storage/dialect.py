"""Dialect-specific SQL constructs, chosen from the connection at hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect


def upsert_insert(dialect: Dialect, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT (SQLite and PostgreSQL share the syntax)."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are not implemented for {dialect.name}")
