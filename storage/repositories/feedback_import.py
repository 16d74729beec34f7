"""Feedback in bulk: hundreds of thousands of imported opinions in one transaction.

`record_feedback_many` reports, event by event, whether each was new (RETURNING), which a
card's reactions need; an import (a benchmark's million rows, a history brought from
elsewhere) only needs the rows stored. Here the rows go through the driver's executemany,
with the same ON CONFLICT rule (a stored or repeated event is a no-op), about ten times
faster. Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Feedback, FeedbackKind, Guild, Track, User, utcnow
from storage.repositories.feedback import FeedbackEvent, UnknownTrackError, _validate
from storage.repositories.people import insert_or_ignore

# Rows per executemany: bounds the parameter lists held at once, not the transaction.
BATCH_ROWS = 50_000
# Track ids per lookup: under SQLite's limit on bound parameters.
LOOKUP_IDS = 10_000


async def import_feedback(session: AsyncSession, events: Sequence[FeedbackEvent]) -> int:
    """Store message-less like/love/dislike/skip events (commands, imports); how many rows
    were new. Raises ValueError or UnknownTrackError, storing nothing, when any event is
    bad (a message-bound event or a rating included)."""
    if not events:
        return 0
    for event in events:
        kind, _ = _validate(event)
        if kind is FeedbackKind.RATING:
            raise ValueError("ratings replace stars: store them with record_feedback")
        if event.message_id is not None:
            raise ValueError("reactions and buttons are bound to a message: use record_feedback")
    await _require_tracks(session, {event.track_id for event in events})
    now = utcnow()
    await _insert_ignoring(
        session, User.__table__, [{"id": u, "created_at": now} for u in {e.user_id for e in events}]
    )
    guilds = {e.guild_id for e in events if e.guild_id is not None}
    await _insert_ignoring(
        session, Guild.__table__, [{"id": g, "name": None, "created_at": now} for g in guilds]
    )
    before = await _count(session)
    await _insert_ignoring(
        session,
        Feedback.__table__,
        [
            {
                "user_id": e.user_id,
                "guild_id": e.guild_id,
                "track_id": e.track_id,
                "kind": FeedbackKind(e.kind),
                "source": e.source,
                "message_id": None,
                "value": None,
                "created_at": e.created_at or now,
            }
            for e in events
        ],
    )
    return await _count(session) - before


async def _require_tracks(session: AsyncSession, wanted: set[str]) -> None:
    ordered = sorted(wanted)
    for start in range(0, len(ordered), LOOKUP_IDS):
        chunk = ordered[start : start + LOOKUP_IDS]
        known = set((await session.scalars(select(Track.id).where(Track.id.in_(chunk)))).all())
        if missing := sorted(set(chunk) - known):
            raise UnknownTrackError(missing[0])


async def _insert_ignoring(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of `rows`, executemany in batches."""
    if not rows:
        return
    statement = insert_or_ignore(session, table).on_conflict_do_nothing()
    for start in range(0, len(rows), BATCH_ROWS):
        await session.execute(statement, rows[start : start + BATCH_ROWS])


async def _count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Feedback)) or 0
