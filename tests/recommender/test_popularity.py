from __future__ import annotations

from recommender.data import Interactions
from recommender.popularity import Popularity
from tests.recommender.contract import RecommenderContract


class TestPopularity(RecommenderContract):
    def make_model(self, seed: int = 0) -> Popularity:
        return Popularity()


def test_counts_distinct_positive_users_and_skips_seen() -> None:
    data = Interactions.from_rows(
        ["a", "a", "b", "c", "c", "d"],
        ["x", "x", "x", "y", "z", "z"],
        [1, 1, 1, 1, -1, 1],
    )
    model = Popularity().fit(data)
    # x: a, b (a twice counts once); z: d only (c's -1 is not a like); y: c.
    assert [(r.item, r.score) for r in model.recommend("new", 3)] == [
        ("x", 2.0),
        ("y", 1.0),
        ("z", 1.0),
    ]
    assert [r.item for r in model.recommend("a", 3)] == ["y", "z"]
    assert model.recommend("new", 1)[0].reason == "popular: 2 listeners liked it"
