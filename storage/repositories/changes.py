"""What a transaction did to `feedback`, row by row: for readers that keep something up to date
from new rows only (the bot's listener counts and trending charts), instead of re-reading
everything.

A caller that wants the log starts it on its session with `watch_changes` before the
statements run (the bot's feedback writer does, per batch); the repositories that add or
delete feedback rows note each row in it (RETURNING gives them the rows at no extra query).
A session nobody watches pays nothing. The log lists what the statements did; it is the
caller's to use only once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

LOG_KEY = "earworm.feedback_changes"
# The columns a change names, in the order `note_changes` reads them from a row.
CHANGE_COLUMNS = ("id", "user_id", "guild_id", "track_id", "kind", "value", "created_at")


@dataclass(frozen=True, slots=True)
class FeedbackChange:
    """One feedback row that appeared (`added`) or went away."""

    added: bool
    id: int
    user_id: int
    guild_id: int | None
    track_id: str
    kind: str
    value: int | None
    created_at: datetime


def watch_changes(session: AsyncSession) -> list[FeedbackChange]:
    """Start (or continue) the session's log of feedback rows added and removed."""
    log: list[FeedbackChange] = session.info.setdefault(LOG_KEY, [])
    return log


def watched(session: AsyncSession) -> bool:
    return LOG_KEY in session.info


def note_changes(session: AsyncSession, rows: Iterable[Sequence[Any]], *, added: bool) -> None:
    """Log `rows` (CHANGE_COLUMNS, in order) when the session is watched."""
    log: list[FeedbackChange] | None = session.info.get(LOG_KEY)
    if log is None:
        return
    for row in rows:
        ident, user, guild, track, kind, value, created = row
        log.append(
            FeedbackChange(
                added=added,
                id=int(ident),
                user_id=int(user),
                guild_id=None if guild is None else int(guild),
                track_id=str(track),
                kind=str(getattr(kind, "value", kind)),
                value=value,
                created_at=created,
            )
        )
