"""The artist relations that serve (recommender/artists.py): the registry's active
"artists" model, which the nightly run learns from the catalog's playlists and members'
likes and plays; or, while none is registered (a fresh install, a failed artifact),
relations fitted here from the catalog's public playlists alone, in a fraction of a second
at start-up. A catalog without playlists (the 114k Kaggle file) has none until the first
nightly run: `/similar` then places tracks by genre, era and sound alone.

Shared by the bot's engine and `earworm similar`/`mix`/`artists`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.playlists import PlaylistRows, count_playlist_links, playlist_rows
from storage.repositories.registry import active_model

if TYPE_CHECKING:
    from recommender.artists import ArtistRelations
    from recommender.data import ItemCatalog

log = logging.getLogger(__name__)

KIND = "artists"
FROM_PLAYLISTS = "the catalog's playlists"
NONE = "none yet"


@dataclass(frozen=True)
class ServedRelations:
    """The relations serving uses and where they come from."""

    model: ArtistRelations | None
    label: str  # "artists v3", "the catalog's playlists" or "none yet"
    version: int | None = None  # the registry's version; None when fitted here
    playlist_links: int = 0  # the playlist rows a start-up fit read

    @property
    def short_label(self) -> str:
        """How a card's footer names them."""
        if self.version is not None:
            return self.label
        return "playlists" if self.model is not None else "no relations"


async def load_relations(
    session: AsyncSession,
    catalog: ItemCatalog,
    previous: ServedRelations | None = None,
    same_catalog: bool = False,
) -> ServedRelations:
    """The relations to serve now (see the module docstring); `previous` is reused when
    nothing it came from changed (the same active version, or the same catalog and
    playlists). Reading and fitting run in worker threads."""
    from recommender.artifacts import ArtifactError

    record = await active_model(session, KIND)
    if record is not None and record.artifact_path:
        if previous is not None and previous.version == record.version:
            return previous
        try:
            model = await asyncio.to_thread(_load, Path(record.artifact_path))
            return ServedRelations(model, f"{KIND} v{record.version}", record.version)
        except (ArtifactError, ValueError, OSError) as exc:
            log.warning(
                "serving without %s v%s (fitting from the playlists instead): %s",
                KIND,
                record.version,
                exc,
            )
    links = await count_playlist_links(session)
    if (
        previous is not None
        and previous.version is None
        and same_catalog
        and previous.playlist_links == links
    ):
        return previous
    if links == 0:
        return ServedRelations(None, NONE)
    rows = await playlist_rows(session)
    model = await asyncio.to_thread(fit_from_playlists, rows, catalog)
    return ServedRelations(model, FROM_PLAYLISTS, None, links)


def fit_from_playlists(rows: PlaylistRows, catalog: ItemCatalog) -> ArtistRelations:
    """Relations from the catalog's playlists alone (no member data). CPU work."""
    from recommender.artists import ArtistRelations, Playlists
    from recommender.data import Interactions

    playlists = Playlists.of(rows.tracks, rows.playlists)
    return ArtistRelations(playlists=playlists).fit(Interactions.from_rows([], []), catalog)


def _load(path: Path) -> ArtistRelations:
    from recommender.artists import ArtistRelations

    return ArtistRelations.load(path)
