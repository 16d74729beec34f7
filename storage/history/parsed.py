"""What every history source parses into, and the one error for a history that cannot be
read at all."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage.errors import StorageError

# The same bounds as storage.repositories.plays: rows outside them are skipped by reason
# while parsing, so a member hears about them before anything is written.
MAX_MS_PLAYED = 24 * 60 * 60 * 1000
FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST_PLAY = datetime(2000, 1, 1, tzinfo=UTC)


class HistoryError(StorageError):
    """A history that cannot be imported as a whole (not JSON, another shape, too big, a zip
    bomb, Last.fm refusing or down). The message is short and meant for the member."""


@dataclass(frozen=True, slots=True)
class ParsedPlay:
    """One play as a source tells it.

    `spotify_id` is the 22-character track id when the source names one (Spotify's extended
    history), else None and the play is matched by `title` and `artist` (the main artist).
    `played_at` is aware UTC (when the play ended, for Spotify). `ms_played` None: unknown
    (Last.fm does not say; a scrobble means at least half the track or four minutes were
    heard). `skipped` None: unknown."""

    spotify_id: str | None
    title: str
    artist: str
    album: str | None
    played_at: datetime
    ms_played: int | None
    skipped: bool | None


@dataclass(slots=True)
class ParsedHistory:
    """Plays parsed from one upload or one Last.fm account, with what was left out.

    `skipped` counts rows by reason (podcast, no_track, bad_timestamp, future_timestamp,
    negative_ms, absurd_ms, duplicate, ...); `files` the files read (a zip's members),
    `ignored_files` the members that were not streaming history."""

    format: str
    plays: list[ParsedPlay] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    files: list[str] = field(default_factory=list)
    ignored_files: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format,
            "rows_read": self.rows_read,
            "plays": len(self.plays),
            "skipped": dict(sorted(self.skipped.items())),
            "files": list(self.files),
            "ignored_files": self.ignored_files,
        }


class PlayCollector:
    """Checks each play's time and length and drops repeats, counting what it drops."""

    def __init__(self, history: ParsedHistory, now: datetime | None = None) -> None:
        self.history = history
        self.latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
        self._seen: set[tuple[object, ...]] = set()

    def skip(self, reason: str) -> None:
        self.history.skipped[reason] += 1

    def add(self, play: ParsedPlay) -> None:
        if play.played_at > self.latest:
            return self.skip("future_timestamp")
        if play.played_at < EARLIEST_PLAY:
            return self.skip("bad_timestamp")
        if play.ms_played is not None:
            if play.ms_played < 0:
                return self.skip("negative_ms")
            if play.ms_played > MAX_MS_PLAYED:
                return self.skip("absurd_ms")
        identity = play.spotify_id or (play.title.casefold(), play.artist.casefold())
        key = (identity, play.played_at)
        if key in self._seen:
            return self.skip("duplicate")
        self._seen.add(key)
        self.history.plays.append(play)
        return None
