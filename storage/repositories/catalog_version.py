"""A cheap fingerprint of the catalog, so models fitted on it can be cached and reused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Track, TrackGenre


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    """Changes whenever an import adds, changes or removes a track or a track's genres
    (the importer bumps `updated_at` on every change, new genres included)."""

    tracks: int
    genre_links: int
    last_updated: datetime | None

    @property
    def fingerprint(self) -> str:
        stamp = self.last_updated.isoformat() if self.last_updated else "never"
        text = f"{self.tracks}/{self.genre_links}/{stamp}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


async def catalog_version(session: AsyncSession) -> CatalogVersion:
    row = await session.execute(
        select(
            select(func.count()).select_from(Track).scalar_subquery(),
            select(func.count()).select_from(TrackGenre).scalar_subquery(),
            select(func.max(Track.updated_at)).scalar_subquery(),
        )
    )
    tracks, genre_links, last_updated = row.one()
    if isinstance(last_updated, str):  # SQLite hands back text for an aggregate
        last_updated = datetime.fromisoformat(last_updated)
    return CatalogVersion(int(tracks), int(genre_links), last_updated)
