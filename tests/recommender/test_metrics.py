"""Every metric on cases worked out by hand, ties and unknown test items included.

Rows are users, columns items; `relevant` marks held-out items, `candidates` the items
that may be ranked (False for train items). Ranks are pessimistic: see metrics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.evaluation import metrics
from recommender.evaluation.metrics import RelevantRanks, rank_relevant

INF = math.inf


def ranks_of(
    scores: list[list[float]], relevant: list[list[int]], train: list[list[int]] | None = None
) -> RelevantRanks:
    """Build the masks from per-row lists of relevant and train column indices."""
    score_matrix = np.asarray(scores, dtype=float)
    relevant_mask = np.zeros(score_matrix.shape, dtype=bool)
    candidates = np.ones(score_matrix.shape, dtype=bool)
    for row, columns in enumerate(relevant):
        relevant_mask[row, columns] = True
    for row, columns in enumerate(train or []):
        candidates[row, columns] = False
    return rank_relevant(score_matrix, relevant_mask, candidates)


# --- ranks ------------------------------------------------------------------------------


def test_rank_counts_the_items_scored_higher() -> None:
    ranks = ranks_of([[0.9, 0.8, 0.7, 0.6, 0.5]], [[2]])
    assert ranks.rank.tolist() == [3.0]


def test_ties_with_irrelevant_items_rank_last() -> None:
    # Item 2 ties with item 1: pessimistic, so both 0.9 and the tied 0.5 come first.
    assert ranks_of([[0.9, 0.5, 0.5, 0.1]], [[2]]).rank.tolist() == [3.0]
    # Even when the tied item has a higher column than the relevant one.
    assert ranks_of([[0.5, 0.5, 0.5, 0.5]], [[0]]).rank.tolist() == [4.0]


def test_a_constant_model_finds_nothing() -> None:
    scores = np.ones((3, 20))
    relevant = np.zeros((3, 20), dtype=bool)
    relevant[[0, 1, 2], [0, 7, 19]] = True
    ranks = rank_relevant(scores, relevant, np.ones((3, 20), dtype=bool))
    assert ranks.rank.tolist() == [20.0, 20.0, 20.0]
    assert metrics.hit_rate(ranks, 10).tolist() == [0.0, 0.0, 0.0]
    assert metrics.ndcg(ranks, 10).tolist() == [0.0, 0.0, 0.0]
    assert metrics.auc(ranks).tolist() == [0.0, 0.0, 0.0]  # ties count as wrong order


def test_train_items_are_not_candidates() -> None:
    # Item 0 scores highest but is in train: the relevant item 2 moves up to rank 2.
    assert ranks_of([[0.9, 0.8, 0.7]], [[2]], train=[[0]]).rank.tolist() == [2.0]


def test_relevant_items_tied_with_each_other_take_consecutive_ranks() -> None:
    # Two relevant items and one irrelevant item, all tied: the irrelevant one first.
    ranks = ranks_of([[0.5, 0.5, 0.5]], [[0, 1]])
    assert ranks.rank.tolist() == [2.0, 3.0]
    assert metrics.hit_rate(ranks, 1).tolist() == [0.0]
    assert metrics.hit_rate(ranks, 2).tolist() == [1.0]


@pytest.mark.parametrize("score", [-INF, math.nan])
def test_an_item_the_model_cannot_score_is_a_miss(score: float) -> None:
    # -inf is how the runner marks a test item missing from the model's vocabulary.
    ranks = ranks_of([[0.9, score, -INF]], [[1]])
    assert ranks.rank.tolist() == [INF]
    assert metrics.hit_rate(ranks, 3).tolist() == [0.0]
    assert metrics.reciprocal_rank(ranks, 3).tolist() == [0.0]
    assert metrics.auc(ranks).tolist() == [0.0]


def test_batched_rows_are_independent() -> None:
    scores = [[0.9, 0.8, 0.7], [0.1, 0.2, 0.3], [0.5, 0.5, 0.5]]
    together = ranks_of(scores, [[2], [2], [1]])
    assert together.row.tolist() == [0, 1, 2]
    assert together.rank.tolist() == [3.0, 1.0, 3.0]


# --- metrics on one relevant item ---------------------------------------------------------


def test_single_relevant_item_at_rank_three() -> None:
    ranks = ranks_of([[0.9, 0.8, 0.7, 0.6, 0.5]], [[2]])
    assert metrics.hit_rate(ranks, 2).tolist() == [0.0]
    assert metrics.hit_rate(ranks, 3).tolist() == [1.0]
    assert metrics.precision(ranks, 3).tolist() == pytest.approx([1 / 3])
    assert metrics.recall(ranks, 3).tolist() == [1.0]
    assert metrics.ndcg(ranks, 3).tolist() == pytest.approx([1 / math.log2(4)])  # 0.5
    assert metrics.average_precision(ranks, 3).tolist() == pytest.approx([1 / 3])
    assert metrics.reciprocal_rank(ranks, 3).tolist() == pytest.approx([1 / 3])
    assert metrics.reciprocal_rank(ranks, 2).tolist() == [0.0]
    # Four irrelevant candidates, two of them (0.6, 0.5) below the relevant 0.7.
    assert metrics.auc(ranks).tolist() == pytest.approx([2 / 4])


# --- metrics on two relevant items ---------------------------------------------------------


@pytest.fixture
def two_relevant() -> RelevantRanks:
    # Relevant items 1 (0.8) and 3 (0.6) rank 2nd and 4th.
    return ranks_of([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]], [[1, 3]])


def test_two_relevant_items_at_three(two_relevant: RelevantRanks) -> None:
    assert two_relevant.rank.tolist() == [2.0, 4.0]
    assert metrics.hit_rate(two_relevant, 3).tolist() == [1.0]
    assert metrics.precision(two_relevant, 3).tolist() == pytest.approx([1 / 3])
    assert metrics.recall(two_relevant, 3).tolist() == pytest.approx([1 / 2])
    ideal = 1 + 1 / math.log2(3)
    assert metrics.ndcg(two_relevant, 3).tolist() == pytest.approx([(1 / math.log2(3)) / ideal])
    # AP@3: precision 1/2 at rank 2, divided by min(2 relevant, 3).
    assert metrics.average_precision(two_relevant, 3).tolist() == pytest.approx([0.25])
    assert metrics.reciprocal_rank(two_relevant, 3).tolist() == pytest.approx([0.5])


def test_two_relevant_items_at_four(two_relevant: RelevantRanks) -> None:
    ideal = 1 + 1 / math.log2(3)
    found = 1 / math.log2(3) + 1 / math.log2(5)
    assert metrics.ndcg(two_relevant, 4).tolist() == pytest.approx([found / ideal])
    # AP@4: (1/2 at rank 2 + 2/4 at rank 4) / 2.
    assert metrics.average_precision(two_relevant, 4).tolist() == pytest.approx([0.5])
    assert metrics.recall(two_relevant, 4).tolist() == [1.0]


def test_auc_with_two_relevant_items(two_relevant: RelevantRanks) -> None:
    # Irrelevant: 0.9, 0.7, 0.5, 0.4. 0.8 beats three of them, 0.6 beats two.
    assert metrics.auc(two_relevant).tolist() == pytest.approx([(3 / 4 + 2 / 4) / 2])


def test_sampled_candidates_rank_only_against_the_sample() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = np.array([[False, False, False, True, False]])
    sampled = np.array([[False, True, False, False, True]]) | relevant
    ranks = rank_relevant(scores, relevant, sampled)
    assert ranks.rank.tolist() == [2.0]  # only 0.8 of the sample is above 0.6
    assert metrics.auc(ranks).tolist() == pytest.approx([1 / 2])


# --- a brute-force reference on random scores full of ties ----------------------------------


def reference_ranks(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray) -> list:
    """Sort each row's candidates by score, relevant after irrelevant on ties; read positions."""
    result = []
    for row in range(scores.shape[0]):
        pool = [j for j in range(scores.shape[1]) if candidates[row, j] or relevant[row, j]]
        order = sorted(pool, key=lambda j: (-scores[row, j], bool(relevant[row, j])))
        for position, j in enumerate(order, start=1):
            if relevant[row, j]:
                result.append(position if np.isfinite(scores[row, j]) else INF)
    return result


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ranks_match_a_brute_force_sort(data: st.DataObject) -> None:
    users = data.draw(st.integers(1, 4))
    items = data.draw(st.integers(2, 12))
    cells = users * items
    values = data.draw(
        st.lists(st.sampled_from([0.0, 1.0, 2.0, -INF]), min_size=cells, max_size=cells)
    )
    flags = data.draw(st.lists(st.integers(0, 2), min_size=cells, max_size=cells))
    scores = np.asarray(values).reshape(users, items)
    relevant = (np.asarray(flags) == 1).reshape(users, items)
    candidates = (np.asarray(flags) != 2).reshape(users, items)
    ranks = rank_relevant(scores, relevant, candidates)
    assert ranks.rank.tolist() == reference_ranks(scores, relevant, candidates)


# --- the shown lists: top k, coverage, genre precision --------------------------------------


def test_top_k_breaks_ties_to_the_lower_column_and_skips_unrankable_items() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.5, -INF], [0.1, -INF, -INF, -INF, -INF]])
    candidates = np.array([[True, True, True, False, True], [True] * 5])
    top = metrics.top_k_mask(scores, candidates, 2)
    assert top.tolist() == [
        [True, True, False, False, False],  # 0.9, then the first of the tied 0.5s
        [True, False, False, False, False],  # one finite candidate: a shorter list
    ]


def test_coverage_is_the_share_of_items_anyone_is_shown() -> None:
    top = np.array([[True, True, False, False], [False, True, False, False]])
    assert metrics.coverage(top.any(axis=0)) == pytest.approx(2 / 4)


def test_genre_precision() -> None:
    # Items 0-1 rock, 2 pop, 3 jazz+rock. User 0 trained on 0 and 1 (rock), user 1 on 2
    # (pop); user 2 on items of three genres, none on half of them: the most common wins.
    item_genres = sp.csr_matrix(
        np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=float)
    )
    train = np.array(
        [[1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [1, 0, 1, 0, 1]],
        dtype=bool,
    )
    queries = metrics.query_genres(sp.csr_matrix(train), item_genres)
    assert queries.tolist() == [[True, False, False], [False, True, False], [True, True, True]]

    top = np.array(
        [[False, False, True, True, False], [True, False, False, True, False], [False] * 5]
    )
    shares = metrics.genre_precision(top, queries, item_genres)
    # User 0: pop (no) and jazz+rock (yes) -> 1/2; user 1: rock, jazz+rock -> 0; user 2: no list.
    assert shares[:2].tolist() == [0.5, 0.0]
    assert math.isnan(shares[2])
