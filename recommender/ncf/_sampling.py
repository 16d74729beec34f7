"""Training pairs for one epoch: every positive, fresh uniform negatives, explicit negatives.

Negatives are re-drawn every epoch from the items the user has no positive for (uniform,
rejection sampling with a seeded numpy Generator). Items a user disliked or skipped
(negative total weight) are certain negatives, so each joins every epoch as a 0 label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
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

    @classmethod
    def from_matrix(cls, matrix: sp.csr_matrix) -> Feedback:
        coo = matrix.tocoo()
        positive, negative = coo.data > 0, coo.data < 0
        return cls(
            n_items=matrix.shape[1],
            positive_users=coo.row[positive].astype(np.int64),
            positive_items=coo.col[positive].astype(np.int64),
            negative_users=coo.row[negative].astype(np.int64),
            negative_items=coo.col[negative].astype(np.int64),
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


def epoch_samples(
    feedback: Feedback, negatives: int, positive_codes: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray, npt.NDArray[np.float32]]:
    """Users, items and 0/1 labels of one epoch, shuffled."""
    drawn_users, drawn_items = uniform_negatives(
        np.repeat(feedback.positive_users, negatives), feedback.n_items, positive_codes, rng
    )
    users = np.concatenate([feedback.positive_users, drawn_users, feedback.negative_users])
    items = np.concatenate([feedback.positive_items, drawn_items, feedback.negative_items])
    labels = np.zeros(len(users), dtype=np.float32)
    labels[: len(feedback.positive_users)] = 1.0
    order = rng.permutation(len(users))
    return users[order], items[order], labels[order]
