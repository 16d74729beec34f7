"""A member's own matrix, assembled with NumPy, is SciPy's canonical matrix exactly; and
what they have seen and liked is what the sparse arithmetic gave."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import data
from recommender.data import Interactions, seen_and_liked
from recommender.vocab import Vocabulary


def scipy_matrix(interactions: Interactions, users: Vocabulary, items: Vocabulary):
    """The matrix as SciPy builds it (the route for large inputs)."""
    rows = users.indices(interactions.users.tolist())
    cols = items.indices(interactions.items.tolist())
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (interactions.weights[keep], (rows[keep], cols[keep])), shape=(len(users), len(items))
    )
    matrix.sum_duplicates()
    return matrix


def feedback(seed: int, rows: int, users: int, items: int) -> Interactions:
    """Repeated pairs, pairs that cancel out, dislikes, and ids outside the vocabularies."""
    rng = np.random.default_rng(seed)
    weights = rng.choice([1.0, 2.0, -1.0, -0.5, 0.5, 0.25], size=rows)
    return Interactions.from_rows(
        [f"u{u}" for u in rng.integers(0, users + 2, rows)],
        [f"i{i}" for i in rng.integers(0, items + 3, rows)],
        weights,
    )


def same(mine: sp.csr_matrix, theirs: sp.csr_matrix) -> None:
    assert mine.shape == theirs.shape
    assert mine.has_canonical_format
    np.testing.assert_array_equal(mine.indptr, theirs.indptr)
    np.testing.assert_array_equal(mine.indices, theirs.indices)
    np.testing.assert_allclose(mine.data, theirs.data, rtol=1e-12, atol=0)
    assert mine.data.dtype == theirs.data.dtype


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("rows", "users", "items"), [(0, 1, 5), (1, 1, 5), (40, 1, 30), (300, 7, 40)]
)
def test_a_small_matrix_is_scipys_canonical_matrix(seed: int, rows: int, users: int, items: int):
    interactions = feedback(seed, rows, users, items)
    user_vocab = Vocabulary([f"u{u}" for u in range(users)])
    item_vocab = Vocabulary([f"i{i}" for i in range(items)])
    mine = interactions.matrix(user_vocab, item_vocab)
    same(mine, scipy_matrix(interactions, user_vocab, item_vocab))


def test_a_pair_that_cancels_out_stays_as_a_zero_it_was_seen() -> None:
    interactions = Interactions.from_rows(["a", "a", "a"], ["x", "x", "y"], [1.0, -1.0, 2.0])
    matrix = interactions.matrix()
    assert matrix.nnz == 2
    assert matrix[0, interactions.item_vocab.index("x")] == 0.0
    seen, liked = seen_and_liked(matrix)
    # Cancelled out: neither seen nor liked there.
    assert seen.nnz == 1
    assert liked.nnz == 1


def test_large_inputs_take_scipys_route_with_the_same_result(monkeypatch) -> None:
    interactions = feedback(3, 500, 9, 60)
    users = Vocabulary([f"u{u}" for u in range(9)])
    items = Vocabulary([f"i{i}" for i in range(60)])
    small = interactions.matrix(users, items)
    monkeypatch.setattr(data, "SMALL_MATRIX", 10)
    same(small, interactions.matrix(users, items))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seen_and_liked_are_what_sparse_arithmetic_gave(seed: int, dtype) -> None:
    interactions = feedback(seed, 200, 5, 30)
    matrix = interactions.matrix(
        Vocabulary([f"u{u}" for u in range(5)]), Vocabulary([f"i{i}" for i in range(30)])
    )
    seen, liked = seen_and_liked(matrix, dtype)

    expected_seen = (abs(matrix) > 0).astype(np.float32).tocsr()
    expected_liked = matrix.multiply(matrix > 0).tocsr()
    expected_liked.eliminate_zeros()
    same(seen, expected_seen)
    same(liked, expected_liked.astype(dtype))
    assert liked.nnz < seen.nnz < matrix.nnz or matrix.nnz == 0
