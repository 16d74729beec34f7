"""The public playlists catalog tracks come from (table `track_playlists`, filled by the
catalog import): what artist relations are learned from (recommender/artists.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TrackPlaylist

# Playlists deleted per statement (SQLite's limit on bound parameters).
PLAYLISTS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class PlaylistRows:
    """Column-wise (track id, playlist id) rows, ordered by playlist then track."""

    tracks: list[str]
    playlists: list[str]

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def playlist_count(self) -> int:
        return len(set(self.playlists))


async def playlist_rows(session: AsyncSession) -> PlaylistRows:
    result = await session.execute(
        select(TrackPlaylist.track_id, TrackPlaylist.playlist_id).order_by(
            TrackPlaylist.playlist_id, TrackPlaylist.track_id
        )
    )
    rows = result.all()
    return PlaylistRows([row[0] for row in rows], [row[1] for row in rows])


async def count_playlist_links(session: AsyncSession) -> int:
    """How many (track, playlist) rows there are: a cheap version of the playlists."""
    return int(await session.scalar(select(func.count()).select_from(TrackPlaylist)) or 0)


async def remove_playlists(session: AsyncSession, playlist_ids: Sequence[str]) -> int:
    """Delete every row of these playlists (e.g. held out of an evaluation); returns how
    many rows went. The caller commits."""
    removed = 0
    unique = sorted(set(playlist_ids))
    for start in range(0, len(unique), PLAYLISTS_PER_QUERY):
        chunk = unique[start : start + PLAYLISTS_PER_QUERY]
        result = await session.execute(
            delete(TrackPlaylist).where(TrackPlaylist.playlist_id.in_(chunk))
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
