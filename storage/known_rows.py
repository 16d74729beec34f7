"""Rows this process has seen committed: members, servers and tracks, per database.

Every batch of reactions and every card stored used to ask the database again whether its
member, server and tracks exist (two upserts and a lookup, each a round trip through the
event loop), although after a member's first reaction the answer is always yes. The
writes now ask only about ids they have not seen committed.

Safe because an id is remembered only once the transaction that stored or found it has
committed, a deletion through `forget` drops it at once, and the foreign keys on feedback
and served picks still hold: a row deleted behind this process's back (another process, a
restore) makes the next write fail its constraint, any database error forgets everything
for that database, and the writer's retry asks again.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

# Ids kept per table and database; past this the table's set starts again (bounds memory
# for a catalog of millions of tracks; a forgotten id costs one lookup).
LIMIT = 200_000
_PENDING = "earworm.known_rows.pending"

_KNOWN: weakref.WeakKeyDictionary[Engine, dict[str, set[Hashable]]] = weakref.WeakKeyDictionary()


def _tables(bind: Any) -> dict[str, set[Hashable]] | None:
    engine = getattr(bind, "engine", None)
    if not isinstance(engine, Engine):
        return None
    tables = _KNOWN.get(engine)
    if tables is None:
        tables = _KNOWN[engine] = {}
    return tables


def unknown(session: AsyncSession, table: str, ids: Iterable[Hashable]) -> set[Hashable]:
    """Those of `ids` not seen committed in `table` of the session's database."""
    tables = _tables(session.get_bind())
    known = tables.get(table, set()) if tables is not None else set()
    return {value for value in ids if value not in known}


def remember(session: AsyncSession, table: str, ids: Iterable[Hashable]) -> None:
    """`ids` exist in `table` once the session's transaction commits (not before: a
    rollback must leave nothing remembered)."""
    pending: list[tuple[str, list[Hashable]]] = session.info.setdefault(_PENDING, [])
    pending.append((table, list(ids)))


def forget(session: AsyncSession, table: str, value: Hashable) -> None:
    """`value` may no longer exist in `table` (it is being deleted): ask again next time.
    Dropped at once, so a rollback merely costs one lookup."""
    tables = _tables(session.get_bind())
    if tables is not None:
        tables.get(table, set()).discard(value)
    for pending_table, ids in session.info.get(_PENDING, []):
        if pending_table == table and value in ids:
            ids[:] = [kept for kept in ids if kept != value]


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    tables = _tables(session.get_bind())
    if tables is None:
        return
    for table, ids in pending:
        known = tables.setdefault(table, set())
        if len(known) + len(ids) > LIMIT:
            known.clear()
        known.update(ids)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    """Whatever is still pending when the outermost transaction ends did not commit (a
    commit took it first): rolled back, or closed unfinished."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


@event.listens_for(Engine, "handle_error")
def _failed(context: ExceptionContext) -> None:
    """A statement failed: perhaps a row remembered here is gone. Trust nothing more."""
    if context.engine is not None:
        _KNOWN.pop(context.engine, None)
