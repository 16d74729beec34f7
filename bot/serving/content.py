"""The content model over the database's catalog, and what answers "tracks like this one"
in each mode, for `earworm similar`, `mix` and `artists` (bot/cli/content.py) and the bot's
engine.

The content model is fitted once per catalog version (a few seconds for our 32k tracks)
and cached under `<data dir>/models/content/<catalog fingerprint>-r<MODEL_REVISION>`; later
commands only load it (about 0.1 s) until an import changes the catalog, which refits it
and removes the older one.

Modes (`Similarity`): `normal` is the style blend (recommender/style.py: the seed's genres,
era and related artists first, then closeness in sound), built in a fraction of a second
from the content model and the artist relations that serve (bot/serving/relations.py);
`sound` is the content model alone (how a track sounds: the audio-feature embedding);
`genre` is the content model among tracks sharing a genre with the seed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.composition import database_for
from bot.serving.relations import ServedRelations, load_relations
from bot.settings import Settings
from storage.dto import TrackSummary
from storage.repositories.catalog_version import CatalogVersion, catalog_version
from storage.repositories.snapshots import catalog_rows
from storage.repositories.tracks import get_tracks, search_tracks

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.content import ContentSimilarity
    from recommender.data import ItemCatalog
    from recommender.style import ArtistMatch, StyleSimilarity

log = logging.getLogger(__name__)
# Bump when ContentSimilarity's fitting changes: cached models of older code are refitted.
MODEL_REVISION = 3  # 2: the genre-network representation; 3: release years kept
MAX_RESULTS = 100
DEFAULT_K = 10
MODES = ("normal", "sound", "genre")
# A search query longer than this is no title anyone typed: it is cut.
MAX_QUERY = 200
# Why a seed cannot be answered in a mode.
UNKNOWN, NO_FEATURES, NO_GENRE = "unknown", "no-features", "no-genre"


@dataclass(frozen=True)
class Similarity:
    """What answers "tracks like these" in every mode (see the module docstring)."""

    content: ContentSimilarity
    style: StyleSimilarity
    relations: ServedRelations

    @property
    def catalog(self) -> ItemCatalog:
        return self.content.catalog

    def problem(self, track_id: str, mode: str) -> str | None:
        """Why `track_id` cannot seed `mode` (UNKNOWN, NO_FEATURES, NO_GENRE), or None.
        A seed without audio features or genres still has a style (its artist, its era):
        only `sound` and `genre` need features, and `genre` a genre."""
        if self.content.item_vocab.index(track_id) < 0:
            return UNKNOWN
        if mode != "normal" and not self.content.has_features(track_id):
            return NO_FEATURES
        if mode == "genre" and not self.content.genres_of(track_id):
            return NO_GENRE
        return None

    def similar(self, track_ids: Sequence[str], mode: str, k: int) -> list[Recommendation]:
        """Tracks like one seed or a mix of several, in `mode`. CPU work."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        seeds = list(dict.fromkeys(track_ids))
        if mode == "normal":
            return self.style.mix(seeds, k)
        model = self.content.with_mode("normal" if mode == "sound" else "genre")
        return model.similar_items(seeds[0], k) if len(seeds) == 1 else model.mix(seeds, k)

    def with_relations(self, relations: ServedRelations) -> Similarity:
        return Similarity(
            self.content,
            self.style.with_relations(relations.model, relations.label),
            relations,
        )


def build_similarity(content: ContentSimilarity, relations: ServedRelations) -> Similarity:
    """The style index over `content` with `relations`. CPU work (a fraction of a second
    for our catalog): call it in a worker thread."""
    from recommender.style import StyleSimilarity

    style = StyleSimilarity.from_content(content, relations.model, relations_label=relations.label)
    return Similarity(content, style, relations)


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

    _check_k(k)
    if not 1 <= len(queries) <= MAX_MIX_SEEDS:
        raise ContentRequestError(
            f"a mix takes 1 to {MAX_MIX_SEEDS} tracks, got {len(queries)}; "
            "pick your favourite few and try again"
        )
    async with database_for(settings) as database, database.sessions() as session:
        version = await _nonempty_catalog(session)
        seeds = [Seed(query, await _resolve(session, query)) for query in queries]
        similarity = await load_similarity(settings, session, version)
    for seed in seeds:
        _check_usable(similarity, seed.track, mode)
    results = similarity.similar([seed.track.id for seed in seeds], mode, k)
    return ContentAnswer(seeds, mode, results, similarity.content)


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One line of `earworm similar --batch`: its results, or why it has none."""

    query: str
    seed: TrackSummary | None = None
    results: list[Recommendation] | None = None
    error: str | None = None


async def answer_batch(
    settings: Settings,
    lines: Iterable[str],
    k: int,
    mode: str,
    emit: Callable[[BatchLine, ItemCatalog], None],
) -> int:
    """Each non-blank line of `lines` as one seed (an id, a link or a search query),
    answered in order through `emit` (with the catalog naming the results); the models
    are loaded once. A line that is no track,
    or cannot seed `mode`, is answered with its error: never the end of the batch.
    Returns how many lines were answered."""
    _check_k(k)
    answered = 0
    async with database_for(settings) as database, database.sessions() as session:
        version = await _nonempty_catalog(session)
        similarity = await load_similarity(settings, session, version)
        for raw in lines:
            query = raw.strip()
            if not query:
                continue
            answered += 1
            try:
                track = await _resolve(session, query[:MAX_QUERY])
                _check_usable(similarity, track, mode)
                results = similarity.similar([track.id], mode, k)
            except ContentRequestError as exc:
                emit(BatchLine(query, error=str(exc)), similarity.catalog)
                continue
            emit(BatchLine(query, track, results), similarity.catalog)
    return answered


@dataclass(frozen=True, slots=True)
class ArtistsAnswer:
    name: str  # the artist asked about, as the catalog spells it
    matches: list[ArtistMatch]
    similarity: Similarity
    tracks: dict[str, TrackSummary]  # each match's best-known track by id


async def artists_answer(settings: Settings, name: str, k: int) -> ArtistsAnswer:
    """Artists like the one named (the catalog's spelling, case and spaces aside), each
    with why and its best-known track. ContentRequestError for an unknown name, with the
    closest names the catalog has."""
    from bot.serving.artists import ArtistDirectory

    _check_k(k)
    async with database_for(settings) as database, database.sessions() as session:
        version = await _nonempty_catalog(session)
        similarity = await load_similarity(settings, session, version)
        directory = ArtistDirectory.of(similarity.style)
        found = directory.find(name)
        if found is None:
            close = [directory.names[i] for i in directory.close(name, 5)]
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise ContentRequestError(f"no artist in the catalog is called {name[:60]!r}{hint}")
        key = directory.keys[found]
        matches = similarity.style.similar_artists(key, k)
        tracks = await get_tracks(session, [match.best_track for match in matches])
    return ArtistsAnswer(
        directory.names[found], matches, similarity, {track.id: track for track in tracks}
    )


async def load_similarity(
    settings: Settings, session: AsyncSession, version: CatalogVersion
) -> Similarity:
    """Every mode's model for the catalog at `version`: the cached content model and the
    style index over it with the artist relations that serve now."""
    content = await cached_content_model(settings, session, version)
    relations = await load_relations(session, content.catalog)
    return await asyncio.to_thread(build_similarity, content, relations)


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_RESULTS:
        raise ContentRequestError(f"--k must be between 1 and {MAX_RESULTS}, got {k}")


async def _nonempty_catalog(session: AsyncSession) -> CatalogVersion:
    version = await catalog_version(session)
    if version.tracks == 0:
        raise ContentRequestError(
            "the catalog is empty, so there is nothing to compare with. "
            "Import one first: earworm catalog import PATH_OR_URL"
        )
    return version


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


def _check_usable(similarity: Similarity, track: TrackSummary, mode: str) -> None:
    if mode not in MODES:
        raise ContentRequestError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    label = f"{track.name} by {', '.join(track.artists)}"
    problem = similarity.problem(track.id, mode)
    if problem == UNKNOWN:
        raise ContentRequestError(
            f"{label} joined the catalog after its models were built; try again in a moment"
        )
    if problem == NO_FEATURES:
        raise ContentRequestError(
            f"{label} has no audio features, so Earworm cannot tell what it sounds like; "
            "try --mode normal or another track"
        )
    if problem == NO_GENRE:
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
