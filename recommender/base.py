"""The interface every recommender implements, after implicit's and LensKit's.

A model is fitted once from an interaction snapshot (and, when it uses content, the
catalog), then only read: `recommend`, `similar_items` and `score_users` never change it,
so the bot can call them from worker threads while a new model trains elsewhere.
Unknown users and items are never an error: they get a fallback or an empty list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from recommender.artifacts import Arrays, read_artifact, write_artifact
from recommender.data import Interactions, ItemCatalog
from recommender.vocab import Vocabulary

MAX_K = 1_000


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended item, its score (higher is better) and why, in words."""

    item: str
    score: float
    reason: str


def check_k(k: int) -> int:
    """k must be a positive integer; absurd values are capped, not obeyed."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be at least 1, got {k}")
    return min(int(k), MAX_K)


# Above this many scores, top_k first keeps what beats a threshold guessed from a sample.
SAMPLED_FROM = 8_192
SAMPLE_SIZE = 2_048


def top_k(scores: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.int64]:
    """Indices of the k highest finite scores, best first; ties go to the lower index."""
    scores = np.asarray(scores)
    if scores.size == 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    if scores.size > k and np.isfinite(scores.max()):  # no NaN or +inf (max would say)
        # The row itself (-inf sorts below every finite score), or what beats a cut.
        pool = _above_sampled_cut(scores, k)
    else:
        pool = np.flatnonzero(np.isfinite(scores))
    values = scores if pool is None else scores[pool]
    if values.size > k:
        part = np.argpartition(values, values.size - k)[values.size - k :]
        threshold = values[part].min()
        if not np.isfinite(threshold):  # fewer finite scores than k: all of them
            candidates = np.flatnonzero(np.isfinite(scores))
        elif pool is None:
            candidates = np.flatnonzero(scores >= threshold)  # keep every tie at the cut
        else:
            candidates = pool[values >= threshold]
    else:
        candidates = pool if pool is not None else np.flatnonzero(np.isfinite(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order][:k].astype(np.int64)


def _above_sampled_cut(scores: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.intp] | None:
    """The items scoring at least a cut that a strided sample puts at about 4k items from
    the top, when at least k finite ones do (then the top k are among them); else None.
    Exact either way: it only spares the partition of a long row (a /recommend's 114k)."""
    if scores.size < SAMPLED_FROM:
        return None
    stride = scores.size // SAMPLE_SIZE
    sample = scores[::stride]
    above = min(sample.size - 1, 4 * k // stride + 1)  # sample items meant to beat the cut
    cut = np.partition(sample, sample.size - 1 - above)[sample.size - 1 - above]
    if not np.isfinite(cut):
        return None
    candidates = np.flatnonzero(scores >= cut)
    return candidates if candidates.size >= k else None


class Recommender(ABC):
    """Base class. Subclasses set `kind` and implement fit, scoring, reasons and state."""

    kind: ClassVar[str]

    @abstractmethod
    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        """Train from scratch; returns self."""

    @property
    @abstractmethod
    def item_vocab(self) -> Vocabulary:
        """The items this model can score, in the column order of `score_users`."""

    @abstractmethod
    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float64]:
        """Scores of every item for each user (rows), -inf where an item cannot be offered.

        Unknown users get the model's fallback row (e.g. popularity) or all -inf.
        """

    @abstractmethod
    def reason(self, user: str, item_index: int) -> str:
        """A short sentence a member can read: why this item for this user."""

    def reasons(self, user: str, items: npt.NDArray[np.int64]) -> list[str]:
        """`reason` for each of `items` (a model that explains several at once for less
        overrides it)."""
        return [self.reason(user, int(item)) for item in items]

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        """Item indices the user already interacted with (not recommended again)."""
        return np.empty(0, dtype=np.int64)

    def recommend(
        self, user: str, k: int = 10, *, exclude: Collection[str] = ()
    ) -> list[Recommendation]:
        """The top k items for `user`, without seen or excluded items."""
        k = check_k(k)
        scores = self.score_users([user])[0].astype(np.float64, copy=True)
        scores[self.seen_items(user)] = -np.inf
        excluded = self.item_vocab.indices(exclude)
        scores[excluded[excluded >= 0]] = -np.inf
        return [
            Recommendation(self.item_vocab.id_of(i), float(scores[i]), self.reason(user, i))
            for i in top_k(scores, k)
        ]

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """Items like `item`; models without a notion of item similarity return []."""
        check_k(k)
        return []

    # --- persistence ----------------------------------------------------------------

    @abstractmethod
    def state(self) -> tuple[dict[str, Any], Arrays]:
        """JSON-able parameters and numpy arrays that fully describe the fitted model."""

    @classmethod
    @abstractmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        """Rebuild a fitted model from `state()`."""

    def save(self, directory: Path) -> Path:
        params, arrays = self.state()
        return write_artifact(directory, self.kind, params, arrays)

    @classmethod
    def load(cls, directory: Path) -> Self:
        params, arrays = read_artifact(directory, cls.kind)
        return cls.from_state(params, arrays)
