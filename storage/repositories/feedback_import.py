"""Feedback in bulk: hundreds of thousands of imported opinions in one transaction.

`record_feedback_many` reports, event by event, whether each was new (RETURNING), which a
card's reactions need; an import (a benchmark's million rows, a history brought from
elsewhere) only needs the rows stored. Here the rows go through the driver's executemany,
with the same ON CONFLICT rule (a stored or repeated event is a no-op), about ten times
faster. Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Feedback, FeedbackKind
from storage.repositories.feedback import FeedbackEvent, insert_ignoring, prepare_many


async def import_feedback(session: AsyncSession, events: Sequence[FeedbackEvent]) -> int:
    """Store message-less like/love/dislike/skip events (commands, imports); how many rows
    were new. Raises ValueError or UnknownTrackError, storing nothing, when any event is
    bad (a message-bound event or a rating included)."""
    if not events:
        return 0
    if any(event.message_id is not None for event in events):
        raise ValueError("reactions and buttons are bound to a message: use record_feedback")
    now = await prepare_many(session, events)
    before = await _count(session)
    await insert_ignoring(
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


async def _count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Feedback)) or 0
