"""ALS.with_users: members' vectors solved from their current feedback, item factors fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import user_factor

from recommender.als import ALS
from recommender.data import Interactions
from tests.recommender.test_als import GIVEN, two_tastes


def with_rows(data: Interactions, rows: list[tuple[str, str, float]]) -> Interactions:
    users, items, weights = zip(*rows, strict=True)
    return Interactions.from_rows(
        [*data.users.tolist(), *users],
        [*data.items.tolist(), *items],
        [*data.weights.tolist(), *weights],
    )


def test_a_folded_vector_is_implicits_exact_user_step() -> None:
    data = two_tastes([("t", "a4", -0.3)])  # a skip too: preference 0, confidence |value|
    model = ALS(**GIVEN).fit(data)
    folded = model.with_users(data)
    items = np.asarray(model._item_factors, dtype=np.float64)
    profile = sp.csr_matrix(folded._profile, dtype=np.float64)
    row = folded._users.index("t")
    reference = user_factor(
        items, items.T @ items, profile, row, GIVEN["regularization"], items.shape[1]
    )
    np.testing.assert_allclose(folded._solved_user(row), reference, rtol=1e-6)
    # Scored in float32, the factors' precision: equal to that precision.
    scores = folded.score_users(["t"])[0]
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, items @ reference, rtol=1e-5, atol=1e-6)


def test_a_new_like_counts_before_the_next_retrain() -> None:
    data = two_tastes()
    model = ALS(**GIVEN).fit(data)
    b_columns = model.item_vocab.indices([f"b{i}" for i in range(1, 10)])
    trained = model.score_users(["t"])[0, b_columns].copy()
    before = model.with_users(data).score_users(["t"])[0, b_columns]
    now = with_rows(data, [("t", item, 1.0) for item in ("b1", "b2", "b3")])
    after = model.with_users(now).score_users(["t"])[0, b_columns]
    assert after.mean() > before.mean()
    # The trained model is untouched: it still scores from the training rows.
    np.testing.assert_array_equal(model.score_users(["t"])[0, b_columns], trained)
    assert "b1" in [r.item for r in model.recommend("t", 20)]
    assert "b1" not in [r.item for r in model.with_users(now).recommend("t", 20)]  # now seen


def test_a_member_new_since_training_is_scored_from_their_likes() -> None:
    data = two_tastes()
    model = ALS(**GIVEN).fit(data)
    now = with_rows(data, [("newcomer", item, 1.0) for item in ("b0", "b1", "b2")])
    assert model.recommend("newcomer", 3) == model.recommend("someone-new", 3)  # popularity
    folded = model.with_users(now)
    scores = folded.score_users(["newcomer"])[0]
    a_side = folded.item_vocab.indices([f"a{i}" for i in range(10)])
    b_side = folded.item_vocab.indices([f"b{i}" for i in range(3, 10)])
    assert scores[b_side].mean() > scores[a_side].mean()
    assert folded.recommend("newcomer", 1)[0].reason.startswith("because you liked b")


def test_tracks_the_model_never_saw_are_left_out_and_unknown_members_fall_back() -> None:
    data = two_tastes()
    model = ALS(**GIVEN).fit(data)
    now = with_rows(data, [("t", "brand-new", 1.0), ("only-new", "brand-new", 1.0)])
    folded = model.with_users(now)
    np.testing.assert_allclose(folded.score_users(["t"]), model.with_users(data).score_users(["t"]))
    popular = model.recommend("someone-new", 3)
    assert folded.recommend("only-new", 3) == popular
    assert folded.recommend("nobody", 3) == popular


def test_a_folded_model_saves_and_loads_with_its_solved_vectors(tmp_path: Path) -> None:
    data = two_tastes()
    now = with_rows(data, [("t", "b1", 1.0), ("newcomer", "a5", 1.0)])
    folded = ALS(**GIVEN).fit(data).with_users(now)
    loaded = ALS.load(folded.save(tmp_path / "folded"))
    users = ["t", "newcomer", "u3", "nobody"]
    np.testing.assert_allclose(
        loaded.score_users(users), folded.score_users(users), rtol=1e-5, atol=1e-6
    )


def test_a_track_only_listened_to_is_named_as_played() -> None:
    data = two_tastes([])
    model = ALS(**GIVEN).fit(data)
    member = Interactions.from_rows(["n", "n"], ["a1", "a2"], [0.4, 1.0])
    liked = model.with_users(member)
    listened = model.with_users(member, played=["a1"])

    said = liked.recommend("n", 3)
    played = listened.recommend("n", 3)
    assert [r.item for r in played] == [r.item for r in said]  # the same picks
    assert all("you liked" in r.reason for r in said if "because" in r.reason)
    from_a1 = [r.reason for r in played if r.reason.endswith("a1")]
    assert from_a1
    assert all(reason.startswith("because you played") for reason in from_a1), from_a1
