"""recommender.base.top_k against a plain sort, on rows with ties, -inf, +inf and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.base import top_k


def sorted_top(scores: np.ndarray, k: int) -> list[int]:
    """The k highest finite scores, ties to the lower index, by a full sort."""
    finite = [i for i in range(len(scores)) if np.isfinite(scores[i])]
    return sorted(finite, key=lambda i: (-scores[i], i))[:k]


@pytest.mark.parametrize("seed", range(40))
def test_top_k_is_the_sorted_order_of_the_finite_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 400))
    # Few distinct values, so ties at the cut are common.
    scores = rng.integers(0, 12, size).astype(np.float32)
    for special in (-np.inf, np.inf, np.nan):
        if rng.random() < 0.5:
            scores[rng.random(size) < rng.random() * 0.9] = special
    for k in (1, 3, 10, size, size + 5):
        assert top_k(scores, k).tolist() == sorted_top(scores, k)


@pytest.mark.parametrize("seed", range(12))
def test_long_rows_give_the_sorted_order_too(seed: int) -> None:
    """Rows long enough for the sampled cut (a catalog's 114k), with ties, a block of
    -inf (seen tracks) or a spike of high scores the sample may miss."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(9_000, 40_000))
    scores = np.round(rng.normal(size=size), 2).astype(np.float32)
    if seed % 3 == 0:
        scores[rng.random(size) < 0.97] = -np.inf
    if seed % 3 == 1:
        scores[rng.choice(size, 30, replace=False)] = 50.0
    for k in (1, 10, 50, 400, 5_000):
        assert top_k(scores, k).tolist() == sorted_top(scores, k)


def test_top_k_of_nothing_rankable_is_empty() -> None:
    assert top_k(np.full(5, -np.inf), 3).tolist() == []
    assert top_k(np.array([np.nan, np.nan]), 1).tolist() == []
    assert top_k(np.zeros(0), 2).tolist() == []
    assert top_k(np.arange(4.0), 0).tolist() == []


def test_fewer_finite_scores_than_k_gives_all_of_them() -> None:
    scores = np.array([-np.inf, 2.0, -np.inf, 5.0, 2.0])
    assert top_k(scores, 4).tolist() == [3, 1, 4]
