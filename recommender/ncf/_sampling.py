"""Training pairs for one epoch: every positive, fresh uniform negatives, explicit negatives.

Negatives are re-drawn every epoch from the items the user has no positive for (uniform,
rejection sampling with a seeded numpy Generator, vectorised: no Python loop per pair).
Items a user disliked or skipped (negative total weight) are certain negatives, so each
joins every epoch as a 0 label.

Each pair carries a loss weight. Observed pairs (liked or disliked) weigh their
confidence, ALS's mapping (`recommender.als.confidences`): 1 + `alpha` x the pair's
scaled |weight| (log1p or BM25 of play counts for datasets, of feedback weights for the
bot) over the positives' mean; a sampled negative weighs 1. With `alpha` 0 every pair
weighs 1, the paper's plain BCE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.als import confidences

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Scaling = Literal["none", "log", "bm25"]
# Rejection rounds before giving up on a draw (only users who like nearly every item run out).
_ROUNDS = 20


@dataclass(frozen=True)
class Feedback:
    """Distinct (user, item) pairs by sign of their summed weight."""

    n_items: int
    positive_users: IntArray
    positive_items: IntArray
    negative_users: IntArray
    negative_items: IntArray
    positive_weights: FloatArray
    negative_weights: FloatArray

    @classmethod
    def from_matrix(
        cls, matrix: sp.csr_matrix, scaling: Scaling = "none", alpha: float = 0.0
    ) -> Feedback:
        """The pairs of a users x items matrix of summed weights, weighted by confidence."""
        coo = confidences(matrix, scaling, alpha).tocoo()
        positive, negative = coo.data > 0, coo.data < 0
        return cls(
            n_items=matrix.shape[1],
            positive_users=coo.row[positive].astype(np.int64),
            positive_items=coo.col[positive].astype(np.int64),
            negative_users=coo.row[negative].astype(np.int64),
            negative_items=coo.col[negative].astype(np.int64),
            positive_weights=coo.data[positive].astype(np.float32),
            negative_weights=-coo.data[negative].astype(np.float32),
        )

    @property
    def positive_codes(self) -> IntArray:
        return np.sort(self.positive_users * self.n_items + self.positive_items)


def _is_positive(codes: IntArray, positive_codes: IntArray) -> npt.NDArray[np.bool_]:
    if len(positive_codes) == 0:
        return np.zeros(len(codes), dtype=bool)
    at = np.minimum(np.searchsorted(positive_codes, codes), len(positive_codes) - 1)
    return positive_codes[at] == codes


def uniform_negatives(
    users: IntArray, n_items: int, positive_codes: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """One item per entry of `users`, uniform over the items that user has no positive for;
    draws still colliding after `_ROUNDS` tries are dropped (users, items returned)."""
    items = rng.integers(0, n_items, size=len(users), dtype=np.int64)
    bad = np.flatnonzero(_is_positive(users * n_items + items, positive_codes))
    for _ in range(_ROUNDS):
        if len(bad) == 0:
            break
        items[bad] = rng.integers(0, n_items, size=len(bad), dtype=np.int64)
        bad = bad[_is_positive(users[bad] * n_items + items[bad], positive_codes)]
    keep = np.ones(len(users), dtype=bool)
    keep[bad] = False
    return users[keep], items[keep]


@dataclass(frozen=True)
class Epoch:
    """One epoch's pairs, shuffled: users, items, 0/1 labels and loss weights."""

    users: IntArray
    items: IntArray
    labels: FloatArray
    weights: FloatArray


def epoch_samples(
    feedback: Feedback, negatives: int, positive_codes: IntArray, rng: np.random.Generator
) -> Epoch:
    """Every positive, `negatives` fresh draws per positive and every explicit negative."""
    drawn_users, drawn_items = uniform_negatives(
        np.repeat(feedback.positive_users, negatives), feedback.n_items, positive_codes, rng
    )
    users = np.concatenate([feedback.positive_users, drawn_users, feedback.negative_users])
    items = np.concatenate([feedback.positive_items, drawn_items, feedback.negative_items])
    labels = np.zeros(len(users), dtype=np.float32)
    labels[: len(feedback.positive_users)] = 1.0
    weights = np.concatenate(
        [
            feedback.positive_weights,
            np.ones(len(drawn_users), dtype=np.float32),
            feedback.negative_weights,
        ]
    )
    order = rng.permutation(len(users))
    return Epoch(users[order], items[order], labels[order], weights[order])
