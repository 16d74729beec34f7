from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.data import Interactions
from recommender.itemknn import ItemKNN, cosine_neighbours
from tests.recommender.contract import RecommenderContract


class TestItemKNN(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ItemKNN:
        return ItemKNN()


@pytest.fixture
def three_listeners() -> Interactions:
    """a and b like x and y, c likes x and z: as vectors over (a, b, c),
    x = (1, 1, 1), y = (1, 1, 0), z = (0, 0, 1)."""
    return Interactions.from_rows(["a", "a", "b", "b", "c", "c"], ["x", "y", "x", "y", "x", "z"])


SIM_XY = 2 / (math.sqrt(3) * math.sqrt(2))  # 0.816
SIM_XZ = 1 / math.sqrt(3)  # 0.577


def test_cosine_similarity_by_hand(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    assert [(r.item, r.score) for r in model.similar_items("x", 5)] == [
        ("y", pytest.approx(SIM_XY)),
        ("z", pytest.approx(SIM_XZ)),
    ]
    assert [r.item for r in model.similar_items("y", 5)] == ["x"]  # y and z share no one
    assert model.similar_items("x", 1)[0].reason == "people who like x also like this"


def test_scores_sum_the_similarity_to_each_liked_item(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    # c likes x and z: y scores sim(x, y) + sim(z, y) = SIM_XY; x and z are seen.
    results = model.recommend("c", 5)
    assert [(r.item, r.score) for r in results] == [("y", pytest.approx(SIM_XY))]
    assert results[0].reason == "people who like x also like this"
    # a likes x and y: z is reached through x only.
    assert [(r.item, r.score) for r in model.recommend("a", 5)] == [("z", pytest.approx(SIM_XZ))]


def test_each_item_keeps_only_its_nearest_neighbours(three_listeners: Interactions) -> None:
    model = ItemKNN(neighbours=1).fit(three_listeners)
    assert [r.item for r in model.similar_items("x", 5)] == ["y"]
    # a likes x and y; x's single neighbour is y and y's is x, so no neighbour reaches z:
    # it comes from popularity (1 of 3 listeners), below any neighbour score.
    results = model.recommend("a", 5)
    assert [(r.item, r.score) for r in results] == [("z", pytest.approx(1 / 4 - 1))]
    assert results[0].reason == "popular: 1 listener liked it"


def test_neighbour_cut_ties_go_to_the_lower_index() -> None:
    # Item 0 is equally similar to items 1, 2 and 3 (all share user 0 only).
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 1, 1, 1]], dtype=float))
    pruned = cosine_neighbours(matrix, 2)
    assert pruned[0].indices.tolist() == [1, 2]
    assert pruned.diagonal().tolist() == [0, 0, 0, 0]


def test_dislikes_do_not_make_neighbours_but_are_never_recommended() -> None:
    data = Interactions.from_rows(
        ["a", "a", "b", "b", "c", "c"], ["x", "y", "x", "y", "x", "y"], [1, -1, 1, -1, 1, 1]
    )
    model = ItemKNN().fit(data)
    # Only c likes y: sim(x, y) = 1 / sqrt(3) over positive feedback.
    assert model.similar_items("x", 5)[0].score == pytest.approx(1 / math.sqrt(3))
    assert model.recommend("a", 5) == []  # a disliked y: it is seen, not offered
    assert [r.item for r in model.recommend("c", 5)] == []


def test_log_weighting_favours_heavy_plays() -> None:
    # x: a, b, c once each; y: a 1,000 times and d once; z: b and d once each.
    data = Interactions.from_rows(
        ["a", "b", "c", "a", "d", "b", "d"],
        ["x", "x", "x", "y", "y", "z", "z"],
        [1, 1, 1, 1000, 1, 1, 1],
    )
    binary = ItemKNN(weighting="binary").fit(data)
    logged = ItemKNN(weighting="log").fit(data)
    # Binary: y and z each share one of two listeners with x: 1 / (sqrt 3 sqrt 2) both.
    assert [r.score for r in binary.similar_items("x", 2)] == pytest.approx([1 / math.sqrt(6)] * 2)
    # Log: y's vector is mostly a's 1,000 plays, and a listens to x.
    heavy, light = np.log1p(1000), np.log1p(1)
    expected_y = heavy / (math.sqrt(3) * math.hypot(heavy, light))
    assert [(r.item, r.score) for r in logged.similar_items("x", 2)] == [
        ("y", pytest.approx(expected_y)),
        ("z", pytest.approx(1 / math.sqrt(6))),
    ]


def test_users_without_likes_get_popularity(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    results = model.recommend("stranger", 3)
    assert [(r.item, r.score) for r in results] == [("x", 3.0), ("y", 2.0), ("z", 1.0)]
    assert results[0].reason == "popular: 3 listeners liked it"


@pytest.mark.parametrize("bad", [{"neighbours": 0}, {"weighting": "tfidf"}])
def test_bad_parameters(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ItemKNN(**bad)  # type: ignore[arg-type]
