"""The catalog's genres: what genre options offer and accept."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Genre, TrackGenre


@dataclass(frozen=True, slots=True)
class GenreCount:
    name: str
    tracks: int


async def genres_by_size(session: AsyncSession) -> list[GenreCount]:
    """Every genre with at least one track, the biggest first (ties by name).

    A catalog has a few hundred genres at most, so callers may hold the list and filter it
    in memory (autocomplete does, on every keystroke).
    """
    tracks = func.count(TrackGenre.track_id)
    result = await session.execute(
        select(Genre.name, tracks)
        .join(TrackGenre, TrackGenre.genre_id == Genre.id)
        .group_by(Genre.id, Genre.name)
        .order_by(tracks.desc(), Genre.name)
    )
    return [GenreCount(name, count) for name, count in result]


async def find_genre(session: AsyncSession, name: str) -> str | None:
    """The catalog's spelling of genre `name` (case and surrounding spaces ignored), or
    None when the catalog has no such genre."""
    wanted = name.strip().lower()
    # No genre name holds a NUL, and PostgreSQL text cannot: such input matches nothing.
    if not wanted or "\x00" in wanted:
        return None
    return await session.scalar(
        select(Genre.name).where(func.lower(Genre.name) == wanted).order_by(Genre.name).limit(1)
    )
