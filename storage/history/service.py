"""Import a parsed history: match its plays, add the tracks the catalog lacks, store the plays.

Everything happens in the caller's transaction and nothing here commits, so a history lands
whole or not at all: run it as

    async with database.sessions() as session, session.begin():
        summary = await import_history(session, member_id, parsed, PlaySource.SPOTIFY_EXPORT)

Importing the same history again adds nothing (`new` is 0).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from storage.history.match import match_plays
from storage.history.parsed import ParsedHistory
from storage.models import PlaySource
from storage.repositories.people import check_snowflake
from storage.repositories.plays import PlayInput, add_tracks_outside_catalog, record_plays


@dataclass(slots=True)
class HistoryImportSummary:
    """What an import did.

    `plays`: plays the parser kept; `matched`: those given a track (by Spotify id, by title
    and artist, or as a track outside the catalog); `unmatched`: those that found none (by
    reason in `unmatched_reasons`); `new`: plays stored now; `already_stored`: plays stored
    by an earlier import; `tracks_added`: tracks outside the catalog added; `skipped`:
    rows left out while parsing or refused when storing, by reason."""

    source: str
    format: str
    rows_read: int = 0
    plays: int = 0
    matched: int = 0
    matched_by_id: int = 0
    matched_by_name: int = 0
    outside_catalog: int = 0
    unmatched: int = 0
    unmatched_reasons: Counter[str] = field(default_factory=Counter)
    new: int = 0
    already_stored: int = 0
    tracks_added: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "format": self.format,
            "rows_read": self.rows_read,
            "plays": self.plays,
            "matched": self.matched,
            "matched_by_id": self.matched_by_id,
            "matched_by_name": self.matched_by_name,
            "outside_catalog": self.outside_catalog,
            "unmatched": self.unmatched,
            "unmatched_reasons": dict(sorted(self.unmatched_reasons.items())),
            "new": self.new,
            "already_stored": self.already_stored,
            "tracks_added": self.tracks_added,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "seconds": round(self.seconds, 3),
        }


async def import_history(
    session: AsyncSession, user_id: int, parsed: ParsedHistory, source: PlaySource
) -> HistoryImportSummary:
    """Store the member's parsed plays as `source`; what happened. Raises ValueError for a
    bad user id or source (before anything is written); any database error propagates and
    the caller's transaction rolls everything back."""
    started = time.perf_counter()
    check_snowflake(user_id, "user id")
    source = PlaySource(source)
    summary = HistoryImportSummary(
        source=source.value,
        format=parsed.format,
        rows_read=parsed.rows_read,
        plays=len(parsed.plays),
        skipped=Counter(parsed.skipped),
    )
    match = await match_plays(session, parsed.plays)
    summary.matched = len(match.plays)
    summary.matched_by_id = match.by_id
    summary.matched_by_name = match.by_name
    summary.outside_catalog = match.outside_plays
    summary.unmatched = sum(match.unmatched.values())
    summary.unmatched_reasons = match.unmatched
    summary.tracks_added = await add_tracks_outside_catalog(session, match.outside.values())
    written = await record_plays(
        session,
        user_id,
        [
            PlayInput(
                track_id=play.track_id,
                played_at=play.played_at,
                ms_played=play.ms_played,
                skipped=play.skipped,
                source=source,
            )
            for play in match.plays
        ],
    )
    summary.new = written.new
    summary.already_stored = written.already_stored
    summary.skipped.update(written.invalid)
    summary.seconds = time.perf_counter() - started
    return summary
