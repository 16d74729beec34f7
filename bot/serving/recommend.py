"""`earworm recommend`: a member's picks from the active models.

The hybrid is composed per request from what is serving now (bot/serving/active_models.py): the
active collaborative models of the model registry (ALS, NCF), the cached content model and
popularity from the current feedback, blended with the weights of the active hybrid
tuning when one is registered (else the defaults). The bot's `/recommend` serves the same
hybrid, kept in memory by bot/serving/engine.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.composition import database_for
from bot.serving.active_models import compose_hybrid, load_active_models
from bot.serving.content import cached_content_model
from bot.serving.relations import load_relations
from bot.settings import Settings
from storage.repositories.catalog_version import catalog_version
from storage.repositories.snapshots import feedback_rows

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.data import ItemCatalog
    from recommender.hybrid import Hybrid

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


async def serving_hybrid(settings: Settings) -> tuple[Hybrid, ServingModels]:
    """The hybrid as it serves now (see the module docstring)."""
    from bot.serving.catalog import interactions as to_interactions

    async with database_for(settings) as database, database.sessions() as session:
        version = await catalog_version(session)
        if version.tracks == 0:
            raise RecommendRequestError(
                "the catalog is empty, so there is nothing to recommend. "
                "Import one first: earworm catalog import PATH_OR_URL"
            )
        content = await cached_content_model(settings, session, version)
        feedback = to_interactions(await feedback_rows(session))
        active = await load_active_models(session)
        relations = await load_relations(session, content.catalog)
    # Composing is CPU work: off the event loop.
    hybrid, weights_from = await asyncio.to_thread(
        compose_hybrid, active, content, feedback, content.catalog, relations.model
    )
    return hybrid, ServingModels(dict(active.versions), dict(active.skipped), weights_from)


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
