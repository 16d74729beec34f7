"""`earworm recommend` (and later `/recommend`): a member's picks from the active models.

The hybrid is composed per request from what is serving now: the active collaborative
models of the model registry (ALS, NCF), the cached content model and popularity from
the current feedback, blended with the weights of the active hybrid tuning when one is
registered (else the defaults). A registered model whose artifact cannot be read is left
out with a warning, so one damaged file never takes recommendations down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.composition import database_for
from bot.content_service import cached_content_model
from bot.settings import Settings
from bot.training import COLLABORATIVE_KINDS
from storage.repositories.catalog_version import catalog_version
from storage.repositories.registry import active_model
from storage.repositories.snapshots import feedback_rows

if TYPE_CHECKING:
    from recommender.base import Recommendation, Recommender
    from recommender.data import ItemCatalog
    from recommender.hybrid import Hybrid

log = logging.getLogger(__name__)
MAX_RESULTS = 100
MAX_SNOWFLAKE = 2**63 - 1


class RecommendRequestError(Exception):
    """A request that cannot be answered; the message says what to do instead."""


@dataclass(frozen=True)
class ServingModels:
    """What a recommendation was made with: versions serving and what was left out."""

    versions: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    weights_from: str = "defaults"


@dataclass(frozen=True)
class RecommendAnswer:
    user: str
    tier: str
    liked: int
    results: list[Recommendation]
    catalog: ItemCatalog
    models: ServingModels


def check_request(user: int, k: int) -> None:
    if not 0 < user <= MAX_SNOWFLAKE:
        raise RecommendRequestError(
            f"--user must be a Discord user id (a positive 64-bit number), got {user}"
        )
    if not 1 <= k <= MAX_RESULTS:
        raise RecommendRequestError(f"--k must be between 1 and {MAX_RESULTS}, got {k}")


def _load_artifact(kind: str, path: str | None) -> Recommender:
    from recommender.hybrid import component_class

    if not path:
        raise ValueError("it has no artifact")
    return component_class(kind).load(Path(path))


async def serving_hybrid(settings: Settings) -> tuple[Hybrid, ServingModels]:
    """The hybrid as it serves now (see the module docstring)."""
    from bot.catalog import interactions as to_interactions
    from recommender.artifacts import ArtifactError
    from recommender.hybrid import Hybrid

    components: dict[str, Any] = {}
    versions: dict[str, int] = {}
    skipped: dict[str, str] = {}
    weights = None
    weights_from = "defaults"
    async with database_for(settings) as database, database.sessions() as session:
        version = await catalog_version(session)
        if version.tracks == 0:
            raise RecommendRequestError(
                "the catalog is empty, so there is nothing to recommend. "
                "Import one first: earworm catalog import PATH_OR_URL"
            )
        content = await cached_content_model(settings, session, version)
        feedback = to_interactions(await feedback_rows(session))
        for kind in COLLABORATIVE_KINDS:
            record = await active_model(session, kind)
            if record is None:
                continue
            try:  # reading an artifact is file I/O and unpacking: off the event loop
                components[kind] = await asyncio.to_thread(
                    _load_artifact, kind, record.artifact_path
                )
                versions[kind] = record.version
            except (ArtifactError, ValueError, OSError, ImportError) as exc:
                skipped[kind] = f"version {record.version} left out: {exc}"
                log.warning("serving without %s: %s", kind, skipped[kind])
        tuned = await active_model(session, "hybrid")
        if tuned is not None and isinstance(tuned.metrics.get("weights"), dict):
            weights = tuned.metrics["weights"]
            weights_from = f"hybrid v{tuned.version}"

    def compose() -> tuple[Hybrid, str]:
        components["content"] = content.with_mode("genre").with_users(feedback)
        try:
            blended = Hybrid.compose(components, feedback, content.catalog, weights=weights)
            return blended, weights_from
        except ValueError as exc:  # tuned for other components than those serving now
            log.warning("blend weights of %s do not fit the serving models: %s", weights_from, exc)
            return Hybrid.compose(components, feedback, content.catalog), "defaults"

    hybrid, weights_from = await asyncio.to_thread(compose)  # CPU work: off the event loop
    return hybrid, ServingModels(versions, skipped, weights_from)


async def recommend_for(settings: Settings, user: int, k: int) -> RecommendAnswer:
    check_request(user, k)
    hybrid, models = await serving_hybrid(settings)
    member = str(user)
    results = await asyncio.to_thread(hybrid.recommend, member, k)  # scoring: off the loop
    return RecommendAnswer(
        user=member,
        tier=hybrid.tier_of(member),
        liked=hybrid.liked_count(member),
        results=results,
        catalog=hybrid.catalog,
        models=models,
    )
