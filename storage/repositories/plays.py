"""Plays: what members listened to (imported histories, listening capture), and who opted in.

Plays are implicit feedback. Writes are idempotent: a play is unique per (user, track,
played_at, source), so importing the same history twice stores nothing the second time.
Bad rows are counted by reason and never written; nothing here commits (the caller owns the
transaction, so an import lands whole or not at all).

Reads aggregate in SQL on the (user_id, played_at) and unique indexes, so a member with
100,000 plays costs one indexed scan, not 100,000 objects.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.catalog.formats import MAX_ARTIST, MAX_NAME, artist_key, clean_text
from storage.catalog.importer import _artist_ids  # the importer's own artist rows
from storage.models import ListeningOptIn, Play, PlaySource, Track, TrackArtist, utcnow
from storage.repositories.feedback import insert_ignoring
from storage.repositories.people import (
    check_aware,
    check_snowflake,
    ensure_user,
    insert_or_ignore,
)
from storage.repositories.tracks import known_track_ids

# A play this long or longer counts as heard (Spotify counts a stream from 30 s on);
# shorter ones that were skipped (or whose skip is unknown) count as skips.
FULL_PLAY_MS = 30_000
# No single play lasts a day: a larger figure is a broken client, not a listen.
MAX_MS_PLAYED = 24 * 60 * 60 * 1000
# Clocks disagree a little; a play further in the future than this is refused.
FUTURE_TOLERANCE = timedelta(minutes=10)
# Neither Spotify nor Last.fm existed before; such a time is a clock that was never set.
EARLIEST_PLAY = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PAGE = 10_000
TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayInput:
    """One play to store. `ms_played` None: the source does not say (Last.fm); `skipped`
    None: unknown."""

    track_id: str
    played_at: datetime
    ms_played: int | None
    skipped: bool | None
    source: PlaySource


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayRecord:
    """One stored play."""

    id: int
    user_id: int
    track_id: str
    played_at: datetime
    ms_played: int | None
    skipped: bool | None
    source: PlaySource


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackPlayCounts:
    """A member's plays of one track: `plays` heard (30 s or more, or of unknown length),
    `skips` (under 30 s and skipped or not known not to be), `total_ms` of the plays whose
    length is known, and the last time."""

    track_id: str
    plays: int
    skips: int
    total_ms: int
    last_played: datetime


@dataclass(slots=True)
class PlayWriteSummary:
    """What `record_plays` did: `new` rows stored, `already_stored` valid rows that were
    stored before (or repeated within the batch), `invalid` rows by reason (never written)."""

    received: int = 0
    new: int = 0
    already_stored: int = 0
    invalid: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, object]:
        return {
            "received": self.received,
            "new": self.new,
            "already_stored": self.already_stored,
            "invalid": dict(sorted(self.invalid.items())),
        }


@dataclass(frozen=True, slots=True)
class OutsideTrack:
    """A played track the catalog lacks: its Spotify id, title, artists in order, album."""

    id: str
    name: str
    artists: tuple[str, ...]
    album: str | None


def _invalid_reason(play: PlayInput, latest: datetime) -> str | None:
    """Why `play` cannot be stored, or None when it can."""
    if not isinstance(play.track_id, str) or not TRACK_ID.fullmatch(play.track_id):
        return "invalid_track_id"
    if not isinstance(play.played_at, datetime) or play.played_at.utcoffset() is None:
        return "naive_timestamp"
    if play.played_at > latest:
        return "future_timestamp"
    if play.played_at < EARLIEST_PLAY:
        return "too_old"
    ms = play.ms_played
    if ms is not None:
        if isinstance(ms, bool) or not isinstance(ms, int):
            return "invalid_ms"
        if ms < 0:
            return "negative_ms"
        if ms > MAX_MS_PLAYED:
            return "absurd_ms"
    if play.skipped is not None and not isinstance(play.skipped, bool):
        return "invalid_skipped"
    try:
        PlaySource(play.source)
    except ValueError:
        return "invalid_source"
    return None


async def count_user_plays(session: AsyncSession, user_id: int) -> int:
    check_snowflake(user_id, "user id")
    count = await session.scalar(
        select(func.count()).select_from(Play).where(Play.user_id == user_id)
    )
    return int(count or 0)


async def record_plays(
    session: AsyncSession, user_id: int, plays: Sequence[PlayInput]
) -> PlayWriteSummary:
    """Store `plays` of `user_id` (creating the member's row); what was new.

    Idempotent: a play already stored (same track, time and source) is counted in
    `already_stored` and left alone. Rows with a track the catalog lacks, a naive, future
    or pre-2000 time, or a negative or over-a-day length are counted by reason in
    `invalid` and not written. Raises ValueError only for a bad user id. Writes go through
    executemany in batches, so 100,000 plays are one quick transaction."""
    check_snowflake(user_id, "user id")
    summary = PlayWriteSummary(received=len(plays))
    latest = datetime.now(UTC) + FUTURE_TOLERANCE
    valid: list[PlayInput] = []
    for play in plays:
        reason = _invalid_reason(play, latest)
        if reason is None:
            valid.append(play)
        else:
            summary.invalid[reason] += 1
    known = await known_track_ids(session, (play.track_id for play in valid))
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for play in valid:
        if play.track_id not in known:
            summary.invalid["unknown_track"] += 1
            continue
        rows.append(
            {
                "user_id": user_id,
                "track_id": play.track_id,
                "played_at": play.played_at,
                "ms_played": play.ms_played,
                "skipped": play.skipped,
                "source": PlaySource(play.source),
                "created_at": now,
            }
        )
    if not rows:
        return summary
    await ensure_user(session, user_id)
    before = await count_user_plays(session, user_id)
    await insert_ignoring(session, Play.__table__, rows)
    summary.new = await count_user_plays(session, user_id) - before
    summary.already_stored = len(rows) - summary.new
    return summary


async def add_tracks_outside_catalog(session: AsyncSession, tracks: Iterable[OutsideTrack]) -> int:
    """Add played tracks the catalog lacks, with no audio features; how many were added.

    A track already in the catalog is left as it is (a later catalog import fills in the
    features of one added here). Artists are stored and linked as the catalog importer
    does (merged on their folded name), and the search triggers index the new tracks, so
    they can be found at once. Entries without a valid Spotify id, a title or an artist are
    left out."""
    wanted: dict[str, OutsideTrack] = {}
    for track in tracks:
        cleaned = _clean_outside(track)
        if cleaned is not None:
            wanted.setdefault(cleaned.id, cleaned)
    if not wanted:
        return 0
    known = await known_track_ids(session, wanted)
    new = [track for track_id, track in wanted.items() if track_id not in known]
    if not new:
        return 0
    now = utcnow()
    await insert_ignoring(
        session,
        Track.__table__,
        [
            {
                "id": track.id,
                "name": track.name,
                "album": track.album,
                "artist_names": json.dumps(list(track.artists), ensure_ascii=False),
                "created_at": now,
                "updated_at": now,
            }
            for track in new
        ],
    )
    connection = await session.connection()
    artists: dict[str, tuple[str, str | None]] = {}
    for track in new:
        for name in track.artists:
            artists.setdefault(artist_key(name), (name, None))
    artist_ids = await _artist_ids(connection, artists)
    await insert_ignoring(
        session,
        TrackArtist.__table__,
        [
            {"track_id": track.id, "position": position, "artist_id": artist_ids[key]}
            for track in new
            for position, key in enumerate(dict.fromkeys(artist_key(a) for a in track.artists))
        ],
    )
    return len(new)


def _clean_outside(track: OutsideTrack) -> OutsideTrack | None:
    if not isinstance(track.id, str) or not TRACK_ID.fullmatch(track.id):
        return None
    name = clean_text(track.name or "", MAX_NAME)
    artists = tuple(
        dict.fromkeys(
            cleaned
            for cleaned in (clean_text(a or "", MAX_ARTIST) for a in track.artists)
            if cleaned
        )
    )
    if not name or not artists:
        return None
    album = clean_text(track.album, MAX_NAME) if track.album else None
    return OutsideTrack(track.id, name, artists, album or None)


def _select_plays() -> Select[Any]:
    return select(
        Play.id,
        Play.user_id,
        Play.track_id,
        Play.played_at,
        Play.ms_played,
        Play.skipped,
        Play.source,
    )


def _record(row: Any) -> PlayRecord:
    return PlayRecord(
        id=row.id,
        user_id=row.user_id,
        track_id=row.track_id,
        played_at=row.played_at,
        ms_played=row.ms_played,
        skipped=row.skipped,
        source=PlaySource(row.source),
    )


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    return limit


async def plays_for_user(
    session: AsyncSession,
    user_id: int,
    *,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[PlayRecord]:
    """The member's plays, newest first; only those at or after `since` when given, at most
    `limit` when given."""
    check_snowflake(user_id, "user id")
    statement = _select_plays().where(Play.user_id == user_id)
    if check_aware(since, "since") is not None:
        statement = statement.where(Play.played_at >= since)
    statement = statement.order_by(Play.played_at.desc(), Play.id.desc())
    if _check_limit(limit) is not None:
        statement = statement.limit(limit)
    return [_record(row) for row in await session.execute(statement)]


def _heard() -> Any:
    return or_(Play.ms_played.is_(None), Play.ms_played >= FULL_PLAY_MS)


def _skip() -> Any:
    return and_(Play.ms_played < FULL_PLAY_MS, or_(Play.skipped.is_(None), Play.skipped.is_(True)))


def _count_columns() -> tuple[Any, ...]:
    return (
        func.sum(case((_heard(), 1), else_=0)).label("plays"),
        func.sum(case((_skip(), 1), else_=0)).label("skips"),
        func.coalesce(func.sum(Play.ms_played), 0).label("total_ms"),
        func.max(Play.played_at).label("last_played"),
    )


async def play_counts_for_user(
    session: AsyncSession, user_id: int, *, since: datetime | None = None
) -> list[TrackPlayCounts]:
    """The member's plays per track, aggregated by the database: most heard first, then
    most recent. Only plays at or after `since` when given."""
    check_snowflake(user_id, "user id")
    check_aware(since, "since")
    # `since` None matches every play: one statement, built once (serving reads this for
    # every member it builds).
    result = await session.execute(_PLAY_COUNTS, {"user_id": user_id, "since": since})
    return [
        TrackPlayCounts(
            track_id=row.track_id,
            plays=int(row.plays),
            skips=int(row.skips),
            total_ms=int(row.total_ms),
            last_played=row.last_played,
        )
        for row in result
    ]


def _play_counts() -> Any:
    since = bindparam("since", type_=Play.played_at.type)
    return (
        select(Play.track_id, *_count_columns())
        .where(Play.user_id == bindparam("user_id"), or_(since.is_(None), Play.played_at >= since))
        .group_by(Play.track_id)
        .order_by(
            func.sum(case((_heard(), 1), else_=0)).desc(),
            func.max(Play.played_at).desc(),
            Play.track_id,
        )
    )


_PLAY_COUNTS = _play_counts()


async def plays_since(session: AsyncSession, after_id: int, limit: int) -> list[PlayRecord]:
    """Up to `limit` plays stored after the play `after_id` (0: from the first), by id.

    Ids grow with arrival, so a reader that keeps the last id it saw gets every new play
    exactly once, whatever the plays' own times."""
    if _check_limit(limit) is None:
        raise ValueError("plays_since needs a limit")
    statement = (
        _select_plays().where(Play.id > after_id).order_by(Play.id).limit(min(limit, MAX_PAGE))
    )
    return [_record(row) for row in await session.execute(statement)]


async def count_plays_after(session: AsyncSession, play_id: int) -> int:
    """Plays stored after the play `play_id` (ids grow with arrival)."""
    count = await session.scalar(select(func.count()).select_from(Play).where(Play.id > play_id))
    return int(count or 0)


@dataclass(frozen=True, slots=True)
class PlayAggregateRows:
    """Every member's plays per track, column-wise, ordered by (user, track): what a
    training snapshot holds. `last_played` is Unix seconds."""

    users: list[int]
    tracks: list[str]
    plays: list[int]
    skips: list[int]
    total_ms: list[int]
    last_played: list[int]
    rows: int  # plays aggregated
    max_play_id: int  # the newest play included (0 when none)

    def __len__(self) -> int:
        return len(self.users)


async def play_aggregates(session: AsyncSession) -> PlayAggregateRows:
    """All plays per (member, track), aggregated by the database (for snapshots)."""
    totals = (await session.execute(select(func.count(), func.max(Play.id)))).one()
    result = await session.execute(
        select(Play.user_id, Play.track_id, *_count_columns())
        .group_by(Play.user_id, Play.track_id)
        .order_by(Play.user_id, Play.track_id)
    )
    rows = result.all()
    return PlayAggregateRows(
        users=[row[0] for row in rows],
        tracks=[row[1] for row in rows],
        plays=[int(row[2]) for row in rows],
        skips=[int(row[3]) for row in rows],
        total_ms=[int(row[4]) for row in rows],
        last_played=[int(row[5].timestamp()) for row in rows],
        rows=int(totals[0] or 0),
        max_play_id=int(totals[1] or 0),
    )


# --- listening opt-in ---------------------------------------------------------------------


async def set_listening(session: AsyncSession, user_id: int, enabled: bool) -> bool:
    """Turn listening capture on or off for the member; whether the state changed.

    On keeps the first time it was turned on; off deletes the opt-in."""
    check_snowflake(user_id, "user id")
    if not enabled:
        result = await session.execute(
            delete(ListeningOptIn).where(ListeningOptIn.user_id == user_id)
        )
        return result.rowcount > 0
    await ensure_user(session, user_id)
    table = ListeningOptIn.__table__
    statement = (
        insert_or_ignore(session, table)
        .values(user_id=user_id, enabled_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.user_id])
        .returning(table.c.user_id)
    )
    return (await session.execute(statement)).first() is not None


async def listening_enabled_since(session: AsyncSession, user_id: int) -> datetime | None:
    """When the member turned listening capture on, or None when it is off."""
    check_snowflake(user_id, "user id")
    return await session.scalar(
        select(ListeningOptIn.enabled_at).where(ListeningOptIn.user_id == user_id)
    )


async def listening_user_ids(session: AsyncSession) -> list[int]:
    """Every member with listening capture on, by id."""
    statement = select(ListeningOptIn.user_id).order_by(ListeningOptIn.user_id)
    return list(await session.scalars(statement))
