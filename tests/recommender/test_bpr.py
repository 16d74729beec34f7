from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.artifacts import read_artifact
from recommender.bpr import BPR, DEFAULTS, SEARCH_SIZE
from recommender.data import Interactions
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.factors import validation_metrics, validation_split
from recommender.feedback import feedback_weight
from tests.recommender.contract import RecommenderContract
from tests.recommender.test_als import two_tastes
from tests.recommender.tiny import tiny_catalog, tiny_interactions

GIVEN = {"factors": 4, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100}


class TestBPR(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> BPR:
        return BPR(seed=seed)  # hyperparameters chosen on a validation split


class TestBPRWithGivenHyperparameters(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> BPR:
        return BPR(seed=seed, **GIVEN)


def test_the_same_seed_gives_the_same_factors_and_another_seed_does_not() -> None:
    first = BPR(seed=4, **GIVEN).fit(two_tastes())
    second = BPR(seed=4, **GIVEN).fit(two_tastes())
    other = BPR(seed=5, **GIVEN).fit(two_tastes())
    users = ["t", "u0", "u15"]
    assert np.array_equal(first.score_users(users), second.score_users(users))
    assert not np.array_equal(first.score_users(users), other.score_users(users))


def test_negative_feedback_is_seen_but_not_trained_on() -> None:
    data = two_tastes([("t", "b1", feedback_weight("dislike")), ("t", "a5", -0.3)])
    model = BPR(**GIVEN).fit(data)
    assert {"b1", "a5"}.isdisjoint(r.item for r in model.recommend("t", 100))
    # Training only sees the likes: the same factors as without the negative rows.
    plain = BPR(**GIVEN).fit(two_tastes())
    assert np.array_equal(model.score_users(["t"]), plain.score_users(["t"]))


def test_learns_the_two_tastes() -> None:
    model = BPR(seed=0, factors=4, learning_rate=0.05, regularization=0.01, iterations=300)
    model.fit(two_tastes())
    top = [r.item for r in model.recommend("u0", 3)]
    assert all(item.startswith("a") for item in top)
    assert all(r.item.startswith("b") for r in model.similar_items("b3", 3))


def test_only_negative_feedback_recommends_nothing() -> None:
    data = Interactions.from_rows(["a", "a", "b"], ["x", "y", "x"], [-1.5, -0.3, -1.5])
    model = BPR(seed=1).fit(data)
    assert model.recommend("a", 5) == []
    assert model.recommend("someone-new", 5) == []


def test_a_single_user_and_a_single_item() -> None:
    alone = BPR(seed=0).fit(Interactions.from_rows(["a"] * 3, ["x", "y", "z"]))
    assert alone.recommend("a", 5) == []
    assert len(alone.recommend("b", 5)) == 3
    assert alone.chosen == DEFAULTS
    one_item = BPR(seed=0).fit(Interactions.from_rows(["a", "b"], ["x", "x"]))
    assert [r.item for r in one_item.recommend("c", 5)] == ["x"]


def test_the_search_is_recorded_saved_and_repeatable(tmp_path: Path) -> None:
    model = BPR(seed=0).fit(tiny_interactions(), tiny_catalog())
    tuning = model.tuning
    assert tuning is not None
    assert 1 < len(tuning["table"]) <= SEARCH_SIZE
    best = max(tuning["table"], key=lambda row: row["ndcg@10"])
    assert model.chosen == {key: best[key] for key in DEFAULTS}
    params, _ = read_artifact(model.save(tmp_path / "bpr"), "bpr")
    assert params["tuning"] == tuning
    assert BPR(seed=0).fit(tiny_interactions(), tiny_catalog()).tuning == tuning


def test_validation_metrics_agree_with_the_harness() -> None:
    train, held = validation_split(two_tastes(), seed=1)
    model = BPR(seed=1, **GIVEN).fit(train)
    ours = validation_metrics(model, held)
    theirs = evaluate_model(model, EvaluationData(train=train, test=held), k=10)
    assert ours["hr@10"] == pytest.approx(theirs["hr@10"])
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg@10"])


def test_reasons_name_a_liked_item() -> None:
    model = BPR(seed=0, factors=4, learning_rate=0.05, regularization=0.01, iterations=300)
    model.fit(two_tastes())
    for result in model.recommend("t", 5):
        assert result.reason.removeprefix("because you liked ") in {"a0", "a1", "a2", "b0"}
