from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from recommender.als import ALS, DEFAULTS, confidences
from recommender.artifacts import read_artifact
from recommender.data import Interactions
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.factors import MIN_VALIDATION_USERS, validation_metrics, validation_split
from recommender.feedback import feedback_weight
from tests.recommender.contract import RecommenderContract
from tests.recommender.tiny import tiny_catalog, tiny_interactions

# Every hyperparameter given: no search, one fit.
GIVEN = {"factors": 8, "regularization": 0.1, "alpha": 10.0, "scaling": "log", "iterations": 15}


class TestALS(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ALS:
        return ALS(seed=seed)  # hyperparameters chosen on a validation split


class TestALSWithGivenHyperparameters(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ALS:
        return ALS(seed=seed, **GIVEN)


def two_tastes(extra: Sequence[tuple[str, str, float]] = ()) -> Interactions:
    """Ten listeners of a0..a9, ten of b0..b9 (each likes six of their ten), and "t", who
    likes a0, a1, a2 and b0; `extra` rows come last, so the vocabularies stay the same."""
    rng = np.random.default_rng(7)
    rows: list[tuple[str, str, float]] = []
    for user in range(20):
        side = "a" if user < 10 else "b"
        for item in rng.choice(10, size=6, replace=False):
            rows.append((f"u{user}", f"{side}{item}", 1.0))
    rows += [("t", item, 1.0) for item in ("a0", "a1", "a2", "b0")]
    rows += list(extra)
    users, items, weights = zip(*rows, strict=True)
    return Interactions.from_rows(list(users), list(items), list(weights))


def b_scores(model: ALS, skip: str) -> np.ndarray:
    columns = model.item_vocab.indices([f"b{i}" for i in range(1, 10) if f"b{i}" != skip])
    return model.score_users(["t"])[0, columns]


# --- from feedback to confidence ---------------------------------------------------------


def test_confidences_by_hand() -> None:
    # A like of weight 2 and one of 1 (mean 1.5), and a dislike of -1.5.
    matrix = sp.csr_matrix(np.array([[2.0, -1.5], [1.0, 0.0]]))
    result = confidences(matrix, "none", alpha=3.0).toarray()
    assert result == pytest.approx(
        np.array([[1 + 3 * 2 / 1.5, -(1 + 3 * 1.5 / 1.5)], [1 + 3 * 1 / 1.5, 0.0]])
    )
    logged = confidences(matrix, "log", alpha=1.0).toarray()
    mean = (math.log1p(2) + math.log1p(1)) / 2
    assert logged[0, 1] == pytest.approx(-(1 + math.log1p(1.5) / mean))
    assert logged[1, 0] == pytest.approx(1 + math.log1p(1) / mean)


def test_bm25_is_implicits_with_items_as_documents() -> None:
    plays = sp.random(40, 60, density=0.2, format="csr", random_state=1) * 100
    plays.data = np.ceil(plays.data)
    ours = confidences(plays, "bm25", alpha=1.0)
    theirs = bm25_weight(plays.T.tocoo(), K1=100, B=0.8).T.tocsr()
    theirs.sort_indices()
    expected = 1 + theirs.data / theirs.data.mean()
    assert ours.data == pytest.approx(expected, rel=1e-5)


def test_repeated_rows_are_summed() -> None:
    twice = Interactions.from_rows(["a", "a", "a", "b", "b"], ["x", "x", "y", "x", "z"])
    once = Interactions.from_rows(["a", "a", "b", "b"], ["x", "y", "x", "z"], [2, 1, 1, 1])
    first = ALS(**GIVEN).fit(twice)
    second = ALS(**GIVEN).fit(once)
    assert np.array_equal(first.score_users(["a", "b"]), second.score_users(["a", "b"]))


def test_nan_and_inf_weights_are_rejected() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            Interactions.from_rows(["a", "b"], ["x", "y"], [1.0, bad])


# --- negative feedback ---------------------------------------------------------------------


# Two tastes, two factors: the comparison measures the feedback, not the noise that spare
# dimensions add to a refit on 84 rows.
TWO_FACTORS = {**GIVEN, "factors": 2, "iterations": 30}


def score_drop(kind: str, seed: int) -> np.ndarray:
    """How much t's scores of b1..b9 (b5 aside) fall when t gives b5 this feedback."""
    without = ALS(seed=seed, **TWO_FACTORS).fit(two_tastes())
    negative = ALS(seed=seed, **TWO_FACTORS).fit(two_tastes([("t", "b5", feedback_weight(kind))]))
    assert without.item_vocab == negative.item_vocab
    return b_scores(without, "b5") - b_scores(negative, "b5")


@pytest.mark.parametrize("kind", ["dislike", "skip"])
@pytest.mark.parametrize("seed", [0, 1])
def test_negative_feedback_pushes_similar_items_down(kind: str, seed: int) -> None:
    assert np.all(score_drop(kind, seed) > 0)


def test_a_dislike_pushes_harder_than_a_skip() -> None:
    assert score_drop("dislike", 0).mean() > score_drop("skip", 0).mean()


def test_a_disliked_or_skipped_track_is_never_recommended_again() -> None:
    data = two_tastes([("t", "b1", feedback_weight("dislike")), ("t", "a5", -0.3)])
    model = ALS(**GIVEN).fit(data)
    recommended = {r.item for r in model.recommend("t", 100)}
    assert {"b1", "a5"}.isdisjoint(recommended)
    assert {"b1", "a5"} <= set(model.item_vocab.ids_of(model.seen_items("t")))


def test_only_negative_feedback_recommends_nothing() -> None:
    data = Interactions.from_rows(["a", "a", "b"], ["x", "y", "x"], [-1.5, -0.3, -1.5])
    model = ALS(seed=1).fit(data)
    assert model.recommend("a", 5) == []
    assert model.recommend("someone-new", 5) == []
    assert model.tuning is not None
    assert model.tuning["table"] == []


def test_users_without_likes_and_unknown_users_get_the_popular_items() -> None:
    data = two_tastes([("hater", "a3", -1.5)])
    model = ALS(**GIVEN).fit(data)
    popular = model.recommend("someone-new", 3)
    assert [r.item for r in model.recommend("hater", 3)] == [
        r.item for r in popular if r.item != "a3"
    ][:3]
    assert popular[0].reason.startswith("popular: ")


# --- bad shapes of data ---------------------------------------------------------------------


def test_a_single_user() -> None:
    data = Interactions.from_rows(["a"] * 5, ["v", "w", "x", "y", "z"])
    model = ALS(seed=0).fit(data)
    assert model.recommend("a", 5) == []  # everything is seen
    assert len(model.recommend("b", 5)) == 5
    assert model.tuning is not None
    assert model.chosen == DEFAULTS
    assert "no search" in model.tuning["note"]


def test_a_single_item() -> None:
    data = Interactions.from_rows(["a", "b", "c"], ["x", "x", "x"])
    model = ALS(seed=0).fit(data)
    assert model.recommend("a", 5) == []
    assert [r.item for r in model.recommend("d", 5)] == ["x"]
    assert model.similar_items("x", 5) == []


def test_too_few_validation_users_skip_the_search() -> None:
    users = [f"u{i}" for i in range(MIN_VALIDATION_USERS - 1) for _ in range(3)]
    items = [f"i{(i + j) % 7}" for i in range(MIN_VALIDATION_USERS - 1) for j in range(3)]
    model = ALS(seed=0, factors=4).fit(Interactions.from_rows(users, items))
    assert model.tuning is not None
    assert model.tuning["validation_users"] == MIN_VALIDATION_USERS - 1
    assert model.tuning["table"] == []
    assert model.chosen == {**DEFAULTS, "factors": 4}


# --- the search -------------------------------------------------------------------------------


def test_the_search_is_recorded_and_keeps_the_best() -> None:
    model = ALS(seed=0, iterations=5).fit(tiny_interactions())
    tuning = model.tuning
    assert tuning is not None
    assert tuning["validation_users"] == 12
    table = tuning["table"]
    assert len(table) >= 9
    assert all(row["iterations"] == 5 for row in table)  # given: never searched
    best = max(table, key=lambda row: row["ndcg@10"])
    assert model.chosen == {key: best[key] for key in DEFAULTS}
    assert {row["scaling"] for row in table} == {"none", "log", "bm25"}
    again = ALS(seed=0, iterations=5).fit(tiny_interactions())
    assert again.tuning == tuning


def test_the_search_is_saved_with_the_model(tmp_path: Path) -> None:
    model = ALS(seed=2).fit(tiny_interactions(), tiny_catalog())
    params, _ = read_artifact(model.save(tmp_path / "als"), "als")
    assert params["tuning"] == model.tuning
    assert params["chosen"] == model.chosen
    loaded = ALS.load(tmp_path / "als")
    assert loaded.chosen == model.chosen
    assert loaded.tuning == model.tuning


@pytest.mark.parametrize("given", [GIVEN, {**GIVEN, "scaling": "bm25", "alpha": 2.0}])
def test_validation_metrics_agree_with_the_harness(given: dict[str, object]) -> None:
    train, held = validation_split(two_tastes(), seed=3)
    model = ALS(seed=3, **given).fit(train)  # type: ignore[arg-type]
    ours = validation_metrics(model, held)
    theirs = evaluate_model(model, EvaluationData(train=train, test=held), k=10)
    assert ours["hr@10"] == pytest.approx(theirs["hr@10"])
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg@10"])


# --- reading -------------------------------------------------------------------------------


def test_reasons_name_the_liked_item_that_contributes_most() -> None:
    model = ALS(**TWO_FACTORS).fit(two_tastes())
    liked = {"a0", "a1", "a2", "b0"}
    for result in model.recommend("t", 5):
        named = result.reason.removeprefix("because you liked ")
        assert named in liked
        # the named item is on the same side of the two tastes as the recommendation
        assert named[0] == result.item[0]


def test_reasons_use_catalog_labels() -> None:
    model = ALS(**GIVEN).fit(tiny_interactions(), tiny_catalog())
    reasons = [r.reason for r in model.recommend("u00", 5)]
    assert any(reason.startswith("because you liked Song ") for reason in reasons)
    similar = model.similar_items("i00", 3)
    assert similar[0].reason == "people who like Song 0 by Artist 0 also like this"


def test_similar_items_share_the_items_listeners() -> None:
    model = ALS(**TWO_FACTORS).fit(two_tastes())
    assert all(r.item.startswith("a") for r in model.similar_items("a0", 5))
    assert all(r.item.startswith("b") for r in model.similar_items("b3", 5))


def test_more_threads_give_the_same_factors() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 600, size=25_000).astype(str)
    items = (rng.zipf(1.3, size=25_000) % 3_000).astype(str)
    data = Interactions.from_rows(users.tolist(), items.tolist())
    one = ALS(**GIVEN, threads=1).fit(data)
    two = ALS(**GIVEN, threads=2).fit(data)
    assert np.array_equal(one.score_users(["1", "2"]), two.score_users(["1", "2"]))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"factors": 0}, "factors must be a positive integer"),
        ({"alpha": -1.0}, "alpha must be a positive finite number"),
        ({"scaling": "sqrt"}, "scaling must be one of none, log, bm25"),
        ({"threads": 0}, "threads must be a positive integer"),
    ],
)
def test_bad_hyperparameters_are_refused(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ALS(**bad)  # type: ignore[arg-type]
