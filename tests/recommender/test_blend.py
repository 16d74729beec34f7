from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.blend import held_out_ndcg, search_weights, simplex_grid, standardise
from recommender.data import Interactions
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.popularity import Popularity


def test_standardise_by_hand() -> None:
    rows = np.array([[1.0, 2.0, 3.0, np.nan], [5.0, 5.0, -np.inf, 5.0]])
    neutral = standardise(rows, "neutral")
    std = math.sqrt(2 / 3)
    assert neutral[0].tolist() == pytest.approx([-1 / std, 0.0, 1 / std, 0.0])
    assert neutral[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # all equal: no opinion
    lowest = standardise(rows, "lowest")
    assert lowest[0, 3] == pytest.approx(-1 / std)  # unscored: as low as the lowest scored


def test_standardise_a_row_with_nothing_scored_is_zero() -> None:
    assert standardise(np.full((1, 3), np.nan), "lowest").tolist() == [[0.0, 0.0, 0.0]]


@pytest.mark.parametrize(("components", "step", "count"), [(1, 0.1, 1), (2, 0.5, 3), (3, 0.1, 66)])
def test_simplex_grid(components: int, step: float, count: int) -> None:
    grid = simplex_grid(components, step)
    assert len(grid) == count == len(set(grid))
    assert all(sum(point) == pytest.approx(1.0) and min(point) >= 0 for point in grid)


def test_held_out_ndcg_counts_ties_pessimistically() -> None:
    scores = np.array(
        [
            [0.9, 0.5, 0.5, 0.1],  # target 1 ties with column 2: rank 3 (0.9 is ahead)
            [0.9, 0.8, 0.7, 0.6],  # target 1; column 0 is a train item: rank 1
            [0.1, 0.2, 0.3, 0.4],  # target 0 is last: rank 4
        ],
        dtype=np.float32,
    )
    excluded = np.array([[False] * 4, [True, False, False, False], [False] * 4])
    targets = np.array([1, 1, 0])
    assert held_out_ndcg(scores, excluded, targets, k=1) == (pytest.approx(1 / 3), 1 / 3)
    ndcg, hr = held_out_ndcg(scores, excluded, targets, k=3)
    assert hr == pytest.approx(2 / 3)
    assert ndcg == pytest.approx((1 / math.log2(4) + 1.0) / 3)
    # An item the blend cannot rank (-1) is a miss.
    assert held_out_ndcg(scores[:1], excluded[:1], np.array([-1]), k=4) == (0.0, 0.0)


def test_held_out_ndcg_agrees_with_the_harness() -> None:
    """The tuning score is the harness's NDCG@10 on the same rows (random scores, ties)."""
    rng = np.random.default_rng(7)
    users, items = 40, 60
    scores = rng.integers(0, 8, size=(users, items)).astype(np.float32)  # many ties
    train = rng.random((users, items)) < 0.2
    targets = np.array([rng.choice(np.flatnonzero(~row)) for row in train])

    class Fixed(Popularity):
        def score_users(self, ids: list[str]) -> np.ndarray:  # type: ignore[override]
            return scores[[int(u) for u in ids]].astype(np.float64)

    u_train, i_train = np.nonzero(train)
    data = EvaluationData(
        train=Interactions.from_rows(u_train.tolist(), i_train.tolist()),
        test=Interactions.from_rows(list(range(users)), targets.tolist()),
    )
    model = Fixed().fit(Interactions.from_rows([0] * items, list(range(items))))
    harness = evaluate_model(model, data, 10)
    # The harness ranks over its universe (train + test items): map ours onto it.
    universe = data.items
    columns = universe.indices([str(i) for i in range(items)])
    keep = columns >= 0
    ours_scores = np.full((users, len(universe)), -np.inf, dtype=np.float32)
    ours_scores[:, columns[keep]] = scores[:, keep]
    excluded = np.zeros_like(ours_scores, dtype=bool)
    excluded[:, columns[keep]] = train[:, keep]
    ours_targets = universe.indices([str(t) for t in targets])
    ndcg, hr = held_out_ndcg(ours_scores, excluded, ours_targets)
    assert ndcg == pytest.approx(harness["ndcg@10"])
    assert hr == pytest.approx(harness["hr@10"])


def test_search_weights_finds_the_informative_component() -> None:
    rng = np.random.default_rng(0)
    users, items = 50, 40
    targets = rng.integers(0, items, size=users)
    informative = rng.normal(size=(users, items)).astype(np.float32)
    informative[np.arange(users), targets] += 3.0
    noise = rng.normal(size=(users, items)).astype(np.float32)
    excluded = np.zeros((users, items), dtype=bool)
    trials = search_weights([noise, informative], excluded, targets, step=0.25)
    assert len(trials) == 5
    by_weights = {trial.weights: trial.ndcg for trial in trials}
    assert trials[0].weights[1] >= 0.75  # mostly the informative one
    assert by_weights[(0.0, 1.0)] > 0.5 > by_weights[(1.0, 0.0)]
    assert [t.ndcg for t in trials] == sorted((t.ndcg for t in trials), reverse=True)
    best = trials[0].to_json(["noise", "informative"])["weights"]
    assert best == {"noise": trials[0].weights[0], "informative": trials[0].weights[1]}


def test_a_large_grid_is_searched_coarse_then_fine() -> None:
    """Five groups at step 0.1 are 1,001 vectors; the search compares a fraction of them
    and still lands on the informative group."""
    rng = np.random.default_rng(3)
    rows, items = 60, 40
    targets = rng.integers(0, items, rows)
    informative = rng.normal(size=(rows, items)).astype(np.float32)
    informative[np.arange(rows), targets] += 4.0
    stacks = [rng.normal(size=(rows, items)).astype(np.float32) for _ in range(4)]
    stacks.insert(3, informative)
    excluded = np.zeros((rows, items), dtype=bool)

    trials = search_weights(stacks, excluded, targets, step=0.1)
    assert len(simplex_grid(5, 0.1)) == 1001
    assert len(simplex_grid(5, 0.2)) < len(trials) < 300
    assert trials[0].weights[3] >= 0.7
    assert len({t.weights for t in trials}) == len(trials)  # none compared twice
    assert [t.ndcg for t in trials] == sorted((t.ndcg for t in trials), reverse=True)
