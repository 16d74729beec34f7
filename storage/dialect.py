"""Dialect-specific SQL constructs, chosen from the connection at hand."""

from __future__ import annotations

from collections.abc import Callable
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


_BUILT: dict[tuple[str, str], Any] = {}


def built_once(dialect: Dialect, name: str, build: Callable[[Dialect], Any]) -> Any:
    """The statement `build` makes for `dialect`, made once per process and dialect: the
    feedback writer runs the same few statements for every batch, and constructing them
    (columns, conflict targets) cost the event loop more than executing them. `name` must
    say everything the statement depends on besides the dialect."""
    key = (dialect.name, name)
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build(dialect)
    return statement
