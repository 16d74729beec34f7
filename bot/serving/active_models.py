"""What serves now: the model registry's active collaborative models, loaded, and the
hybrid composed from them. Shared by the bot's engine and `earworm recommend`.

A registered model whose artifact cannot be read is left out with a warning (so one damaged
file never takes recommendations down), and blend weights tuned for other models than
those serving fall back to the defaults.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.registry import active_model

if TYPE_CHECKING:
    from recommender.artists import ArtistRelations
    from recommender.base import Recommender
    from recommender.content import ContentSimilarity
    from recommender.data import Interactions, ItemCatalog
    from recommender.hybrid import Hybrid

log = logging.getLogger(__name__)
# The collaborative models the bot serves (and the learning loop trains).
COLLABORATIVE_KINDS: tuple[str, ...] = ("als", "ncf")
# The content part of a member's score compares every catalog track with each track they
# liked: it costs time in proportion to their likes. Their most recent ones say enough.
CONTENT_PROFILE_ROWS = 200
# With ALS folded in (its member vectors solved from their current likes), the warm blend
# serves a member from this many likes on: on the closed-loop simulation (docs/
# simulation.md) three-like members liked 0.107 of warm picks vs 0.093 of light ones in the
# first round, and the gap grew over rounds. recommender.hybrid's default is 5.
FOLDED_WARM_FROM = 3


@dataclass(frozen=True)
class ActiveModels:
    components: dict[str, Recommender]
    versions: dict[str, int]
    skipped: dict[str, str]  # kind -> why it was left out
    weights: dict[str, Any] | None  # the active hybrid tuning's blend weights
    weights_from: str  # "hybrid vN" or "defaults"


async def load_active_models(session: AsyncSession) -> ActiveModels:
    """The active ALS/NCF artifacts (read in worker threads) and the active blend weights."""
    from recommender.artifacts import ArtifactError

    components: dict[str, Recommender] = {}
    versions: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for kind in COLLABORATIVE_KINDS:
        record = await active_model(session, kind)
        if record is None:
            continue
        try:  # reading an artifact is file I/O and unpacking: off the event loop
            components[kind] = await asyncio.to_thread(_load_artifact, kind, record.artifact_path)
            versions[kind] = record.version
        except (ArtifactError, ValueError, OSError, ImportError) as exc:
            skipped[kind] = f"version {record.version} left out: {exc}"
            log.warning("serving without %s: %s", kind, skipped[kind])
    weights, weights_from = None, "defaults"
    tuned = await active_model(session, "hybrid")
    if tuned is not None and isinstance(tuned.metrics.get("weights"), dict):
        weights, weights_from = tuned.metrics["weights"], f"hybrid v{tuned.version}"
    return ActiveModels(components, versions, skipped, weights, weights_from)


def compose_hybrid(
    active: ActiveModels,
    content: ContentSimilarity,
    feedback: Interactions,
    catalog: ItemCatalog,
    relations: ArtistRelations | None = None,
) -> tuple[Hybrid, str]:
    """The serving hybrid and where its weights came from; the blend's artists from
    `relations` (the ones serving, bot/serving/relations.py), else from `feedback` alone.
    CPU work: call it in a thread."""
    from recommender.als import ALS
    from recommender.hybrid import DEFAULT_THRESHOLD

    components: dict[str, Any] = dict(active.components)
    threshold = DEFAULT_THRESHOLD
    if isinstance(components.get("als"), ALS):
        # Members' vectors from their feedback as it is now: a like counts before the
        # next retrain (recommender.als.ALS.with_users).
        components["als"] = components["als"].with_users(feedback)
        threshold = FOLDED_WARM_FROM
    components["content"] = content.with_mode("genre").with_users(
        recent_rows(feedback, CONTENT_PROFILE_ROWS)
    )
    artists = blend_artists(catalog, relations, feedback)
    if artists is not None:
        components["artists"] = artists
    return _blended(active, components, feedback, catalog, threshold)


def blend_artists(
    catalog: ItemCatalog,
    relations: ArtistRelations | None = None,
    feedback: Interactions | None = None,
) -> ArtistRelations | None:
    """The hybrid's "artists" component (recommender.artists): `relations` serving the
    members of `feedback`. Without relations: ones fitted on `feedback`, or with no
    feedback a relations-less model, in which a member's favourite artists still count.
    None for a catalog that names no artists."""
    from recommender.artists import ArtistRelations
    from recommender.data import Interactions
    from recommender.hybrid import has_artists

    if not has_artists(catalog):
        return None
    if relations is None and feedback is not None:
        return ArtistRelations().fit(feedback, catalog).serving_blend()
    if relations is None:
        relations = _relations_less(catalog)
    return relations.serving_blend().with_users(feedback or Interactions.from_rows([], []))


def _relations_less(catalog: ItemCatalog) -> ArtistRelations:
    """Artists without relations for `catalog`, kept for the last catalog asked about:
    every swap of one catalog serves the same (reading its artists takes a moment)."""
    from recommender.artists import ArtistRelations
    from recommender.data import Interactions

    global _no_relations
    known = _no_relations
    if known is None or known[0] is not catalog:
        known = _no_relations = (
            catalog,
            ArtistRelations().fit(Interactions.from_rows([], []), catalog),
        )
    return known[1]


# The last catalog served without artist relations, and its relations-less model.
_no_relations: tuple[ItemCatalog, ArtistRelations] | None = None


def compose_base(
    active: ActiveModels,
    content: ContentSimilarity,
    catalog: ItemCatalog,
    popularity: Recommender | None = None,
    relations: ArtistRelations | None = None,
) -> tuple[Hybrid, str]:
    """The serving hybrid composed with no member: the item side every request shares
    (each member's side is added per request with `Hybrid.with_member`, see
    bot/serving/members.py), with `popularity` (listener counts) or none yet, and the
    blend's artists from `relations`. CPU work: call it in a thread. Returns where its
    weights came from."""
    from recommender.als import ALS
    from recommender.data import Interactions
    from recommender.hybrid import DEFAULT_THRESHOLD
    from recommender.popularity import Popularity

    nobody = Interactions.from_rows([], [])
    components: dict[str, Any] = dict(active.components)
    threshold = FOLDED_WARM_FROM if isinstance(components.get("als"), ALS) else DEFAULT_THRESHOLD
    components["content"] = content.with_mode("genre")
    components["pop"] = popularity or Popularity.from_counts(catalog.vocab, np.zeros(len(catalog)))
    artists = blend_artists(catalog, relations)
    if artists is not None:
        components["artists"] = artists
    return _blended(active, components, nobody, catalog, threshold)


def _blended(
    active: ActiveModels,
    components: dict[str, Any],
    feedback: Interactions,
    catalog: ItemCatalog,
    threshold: int,
) -> tuple[Hybrid, str]:
    """The hybrid of `components` with the active blend weights, or with the defaults when
    those were tuned for other components than the ones serving now (warned)."""
    from recommender.hybrid import Hybrid

    try:
        return (
            Hybrid.compose(
                components, feedback, catalog, weights=active.weights, threshold=threshold
            ),
            active.weights_from,
        )
    except ValueError as exc:
        log.warning(
            "blend weights of %s do not fit the serving models: %s", active.weights_from, exc
        )
        return Hybrid.compose(components, feedback, catalog, threshold=threshold), "defaults"


def recent_rows(feedback: Interactions, per_user: int) -> Interactions:
    """Each member's `per_user` most recent rows (all of them for most members)."""
    import numpy as np

    if len(feedback) == 0:
        return feedback
    # Newest first within each member, then keep the first `per_user` of each member.
    order = np.lexsort((-feedback.timestamps, feedback.users))
    users = feedback.users[order]
    starts = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.zeros(len(feedback), dtype=bool)
    keep[order[rank < per_user]] = True
    return feedback.subset(keep)


def _load_artifact(kind: str, path: str | None) -> Recommender:
    from recommender.hybrid import component_class

    if not path:
        raise ValueError("it has no artifact")
    return component_class(kind).load(Path(path))
