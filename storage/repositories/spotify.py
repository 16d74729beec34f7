"""The cache of what Spotify's Web API said about catalog tracks (optional enrichment).

A track Spotify does not know is cached too (`info` None), so it is not asked for again
until the entry is old. Only catalog tracks are cached: other ids are skipped on write and
left out on read. Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SpotifyTrackInfo, Track, utcnow
from storage.repositories.people import check_aware, insert_or_ignore
from storage.repositories.tracks import known_track_ids

# Column sizes of spotify_track_info (PostgreSQL enforces them; SQLite does not).
MAX_NAME = 300
MAX_ARTIST_NAMES = 1000
MAX_URL = 1024
# Bound parameters per IN (...) query, well below SQLite's limit.
CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotifyInfo:
    """Spotify's canonical name, artists, album and links for one catalog track."""

    track_id: str
    name: str
    artists: tuple[str, ...]
    album: str | None
    album_art_url: str | None
    track_url: str | None

    @property
    def url(self) -> str:
        """The track's Spotify page (Spotify's own link when it gave one)."""
        return self.track_url or f"https://open.spotify.com/track/{self.track_id}"


@dataclass(frozen=True, slots=True)
class CachedSpotifyInfo:
    info: SpotifyInfo | None  # None: Spotify does not know the track
    fetched_at: datetime


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _short(value: str | None, limit: int = MAX_NAME) -> str | None:
    # A cut name still identifies the track; an error would lose the whole entry.
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _artists_json(artists: tuple[str, ...]) -> str:
    # Drop trailing artists (never cut one in half) until the JSON array fits its column.
    names = [_short(name) or "" for name in artists]
    while names and len(json.dumps(names, ensure_ascii=False)) > MAX_ARTIST_NAMES:
        names.pop()
    return json.dumps(names, ensure_ascii=False)


def _url(value: str | None) -> str | None:
    return value if value is not None and len(value) <= MAX_URL else None


async def cached_spotify_info(
    session: AsyncSession, track_ids: Iterable[str]
) -> dict[str, CachedSpotifyInfo | None]:
    """Each requested catalog track's cache entry, or None when it was never fetched.

    Ids that are not in the catalog are left out of the result.
    """
    wanted = sorted(set(track_ids))
    found: dict[str, CachedSpotifyInfo | None] = {}
    for chunk in _chunks(wanted):
        result = await session.execute(
            select(
                Track.id,
                SpotifyTrackInfo.found,
                SpotifyTrackInfo.name,
                SpotifyTrackInfo.artist_names,
                SpotifyTrackInfo.album,
                SpotifyTrackInfo.album_art_url,
                SpotifyTrackInfo.track_url,
                SpotifyTrackInfo.fetched_at,
            )
            .outerjoin(SpotifyTrackInfo, SpotifyTrackInfo.track_id == Track.id)
            .where(Track.id.in_(chunk))
        )
        for track_id, hit, name, artists, album, art, url, fetched_at in result:
            if fetched_at is None:
                found[track_id] = None
                continue
            info = (
                SpotifyInfo(
                    track_id=track_id,
                    name=name or "",
                    artists=tuple(json.loads(artists or "[]")),
                    album=album,
                    album_art_url=art,
                    track_url=url,
                )
                if hit
                else None
            )
            found[track_id] = CachedSpotifyInfo(info, fetched_at)
    return found


async def store_spotify_info(
    session: AsyncSession,
    results: Mapping[str, SpotifyInfo | None],
    *,
    fetched_at: datetime | None = None,
) -> int:
    """Cache what Spotify said per track id (None: not found), replacing older entries.

    Ids not in the catalog are skipped; returns how many entries were written. Too long
    names are shortened and too long URLs dropped, so every entry fits its columns.
    """
    check_aware(fetched_at, "fetched_at")
    known = await known_track_ids(session, results)
    if not known:
        return 0
    when = fetched_at or utcnow()
    rows = []
    for track_id in sorted(known):
        info = results[track_id]
        rows.append(
            {
                "track_id": track_id,
                "found": info is not None,
                "name": _short(info.name) if info else None,
                "artist_names": _artists_json(info.artists) if info else None,
                "album": _short(info.album) if info else None,
                "album_art_url": _url(info.album_art_url) if info else None,
                "track_url": _url(info.track_url) if info else None,
                "fetched_at": when,
            }
        )
    table = SpotifyTrackInfo.__table__
    statement = insert_or_ignore(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.track_id],
        set_={name: statement.excluded[name] for name in rows[0] if name != "track_id"},
    )
    await session.execute(statement, rows)
    return len(rows)
