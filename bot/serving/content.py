"""The content model over the database's catalog, for `earworm similar` and `earworm mix`
(bot/cli/content.py) and the bot's engine.

The model is fitted once per catalog version (a few seconds for our 32k tracks) and cached
under `<data dir>/models/content/<catalog fingerprint>-r<MODEL_REVISION>`; later commands
only load it (about 0.1 s) until an import changes the catalog, which refits it and removes
the older one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.composition import database_for
from bot.settings import Settings
from storage.dto import TrackSummary
from storage.repositories.catalog_version import CatalogVersion, catalog_version
from storage.repositories.snapshots import catalog_rows
from storage.repositories.tracks import search_tracks

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.content import ContentSimilarity
    from recommender.data import ItemCatalog

log = logging.getLogger(__name__)
# Bump when ContentSimilarity's fitting changes: cached models of older code are refitted.
MODEL_REVISION = 2  # 2: the genre-network representation
MAX_RESULTS = 100
DEFAULT_K = 10


class ContentRequestError(Exception):
    """A request the content model cannot answer; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Seed:
    query: str
    track: TrackSummary


@dataclass(frozen=True, slots=True)
class ContentAnswer:
    seeds: list[Seed]
    mode: str
    results: list[Recommendation]
    model: ContentSimilarity


def model_directory(settings: Settings, fingerprint: str) -> Path:
    return settings.data_dir / "models" / "content" / f"{fingerprint}-r{MODEL_REVISION}"


async def answer(settings: Settings, queries: Sequence[str], k: int, mode: str) -> ContentAnswer:
    """Resolve each query to a track, then the tracks like it (one query) or like all of
    them together (a mix). Raises ContentRequestError with a message for the user."""
    from recommender.content import MAX_MIX_SEEDS

    if not 1 <= k <= MAX_RESULTS:
        raise ContentRequestError(f"--k must be between 1 and {MAX_RESULTS}, got {k}")
    if not 1 <= len(queries) <= MAX_MIX_SEEDS:
        raise ContentRequestError(
            f"a mix takes 1 to {MAX_MIX_SEEDS} tracks, got {len(queries)}; "
            "pick your favourite few and try again"
        )
    async with database_for(settings) as database, database.sessions() as session:
        version = await catalog_version(session)
        if version.tracks == 0:
            raise ContentRequestError(
                "the catalog is empty, so there is nothing to compare with. "
                "Import one first: earworm catalog import PATH_OR_URL"
            )
        seeds = [Seed(query, await _resolve(session, query)) for query in queries]
        model = await cached_content_model(settings, session, version)
    model = model.with_mode(mode)
    seed_ids = list(dict.fromkeys(seed.track.id for seed in seeds))
    for seed in seeds:
        _check_usable(model, seed.track, mode)
    results = model.similar_items(seed_ids[0], k) if len(seed_ids) == 1 else model.mix(seed_ids, k)
    return ContentAnswer(seeds, mode, results, model)


async def cached_content_model(
    settings: Settings, session: AsyncSession, version: CatalogVersion
) -> ContentSimilarity:
    """The content model of the catalog at `version`: loaded from the cache, or fitted and
    cached (both in a worker thread: loading and fitting are CPU work)."""
    from bot.serving.catalog import item_catalog

    directory = model_directory(settings, version.fingerprint)
    model = await asyncio.to_thread(_load_cached, directory)
    if model is None:
        catalog = item_catalog(await catalog_rows(session))
        model = await asyncio.to_thread(fit_and_cache, catalog, directory)
    return model


def content_model(settings: Settings, fingerprint: str, catalog: ItemCatalog) -> ContentSimilarity:
    """The content model of `catalog` (whose fingerprint is given): the cached one, or
    fitted and cached. Blocking: call it in a worker thread."""
    directory = model_directory(settings, fingerprint)
    return _load_cached(directory) or fit_and_cache(catalog, directory)


async def _resolve(session: AsyncSession, query: str) -> TrackSummary:
    found = await search_tracks(session, query, 1)
    if not found:
        raise ContentRequestError(
            f"no track matches {query!r}. Try `earworm search {query!r}` to find it, "
            "or pass a Spotify track URL or id"
        )
    return found[0]


def _check_usable(model: ContentSimilarity, track: TrackSummary, mode: str) -> None:
    label = f"{track.name} by {', '.join(track.artists)}"
    if not model.has_features(track.id):
        raise ContentRequestError(
            f"{label} has no audio features, so Earworm cannot tell what it sounds like; "
            "try another track"
        )
    if mode == "genre" and not model.genres_of(track.id):
        raise ContentRequestError(f"{label} has no genre in the catalog; try --mode normal")


def _load_cached(directory: Path) -> ContentSimilarity | None:
    from recommender.artifacts import ArtifactError
    from recommender.content import ContentSimilarity

    if not directory.exists():
        return None
    try:
        return ContentSimilarity.load(directory)
    except ArtifactError as exc:  # damaged or from another format: fit again
        log.warning("refitting the content model: %s", exc)
        return None


def fit_and_cache(catalog: ItemCatalog, directory: Path) -> ContentSimilarity:
    from recommender.content import ContentSimilarity
    from recommender.data import Interactions

    model = ContentSimilarity(seed=0).fit(Interactions.from_rows([], []), catalog)
    try:
        model.save(directory)
    except OSError as exc:  # e.g. another process caching the same model: it is only a cache
        log.warning("could not cache the content model in %s: %s", directory, exc)
        return model
    _remove_stale(directory)
    return model


async def load_catalog(settings: Settings) -> ItemCatalog:
    """The whole catalog as the recommender sees it."""
    from bot.serving.catalog import item_catalog

    async with database_for(settings) as database, database.sessions() as session:
        return item_catalog(await catalog_rows(session))


def _remove_stale(current: Path) -> None:
    """Models of older catalog versions are never read again."""
    for sibling in current.parent.iterdir():
        if sibling != current and sibling.is_dir() and not sibling.name.startswith("."):
            shutil.rmtree(sibling, ignore_errors=True)
