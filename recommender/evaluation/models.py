"""The models the harness can evaluate, by name: each is a factory taking the seed.

Content models are imported only when asked for, so the harness works (and says clearly
what is missing) whether or not `recommender.content` is installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recommender.base import Recommender
from recommender.itemknn import ItemKNN
from recommender.popularity import Popularity


class ModelUnavailable(Exception):
    """A model that exists by name but cannot be built here; the message says why."""


@dataclass(frozen=True)
class ModelSpec:
    factory: Callable[[int], Recommender]
    needs_audio_features: bool = False


def _lazy(module: str, cls: str, **options: Any) -> Callable[[int], Recommender]:
    """A factory that imports `module` only when the model is asked for (torch is slow to
    import, and a model whose code is missing should be a clear message, not a crash)."""

    def build(seed: int) -> Recommender:
        loaded: Any = importlib.import_module(module)
        model: Recommender = getattr(loaded, cls)(seed=seed, **options)
        return model

    return build


def _content(mode: str) -> Callable[[int], Recommender]:
    return _lazy("recommender.content", "ContentSimilarity", mode=mode)


MODELS: dict[str, ModelSpec] = {
    "pop": ModelSpec(lambda seed: Popularity()),
    "itemknn": ModelSpec(lambda seed: ItemKNN(seed=seed)),
    "content": ModelSpec(_content("normal"), needs_audio_features=True),
    "content-genre": ModelSpec(_content("genre"), needs_audio_features=True),
    # Content similarity over learned track embeddings (recommender/embeddings.py): a genre
    # network's (trained on the genres the model catalog gives, never the test playlist's)
    # or an autoencoder's.
    "content-learned": ModelSpec(
        _lazy("recommender.content", "ContentSimilarity", representation="genre-net"),
        needs_audio_features=True,
    ),
    "content-learned-genre": ModelSpec(
        _lazy("recommender.content", "ContentSimilarity", mode="genre", representation="genre-net"),
        needs_audio_features=True,
    ),
    "content-autoencoder": ModelSpec(
        _lazy("recommender.content", "ContentSimilarity", representation="autoencoder"),
        needs_audio_features=True,
    ),
    # The content model before the genre network became its default: scaled features + PCA.
    "content-features": ModelSpec(
        _lazy("recommender.content", "ContentSimilarity", representation="features"),
        needs_audio_features=True,
    ),
    "content-features-genre": ModelSpec(
        _lazy("recommender.content", "ContentSimilarity", mode="genre", representation="features"),
        needs_audio_features=True,
    ),
    "als": ModelSpec(_lazy("recommender.als", "ALS")),
    "bpr": ModelSpec(_lazy("recommender.bpr", "BPR")),
    "ncf": ModelSpec(_lazy("recommender.ncf", "NCF")),
    # The hybrid uses audio features when the dataset has them and does without otherwise.
    "hybrid": ModelSpec(_lazy("recommender.hybrid", "Hybrid")),
}


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelUnavailable(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def build_model(name: str, seed: int) -> Recommender:
    """A fresh, unfitted model; ModelUnavailable when its code cannot be loaded or built."""
    spec = model_spec(name)
    try:
        return spec.factory(seed)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ModelUnavailable(f"model {name!r} is not available: {exc}") from None
