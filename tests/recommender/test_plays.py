"""Plays to implicit-feedback weights: hand-computed cases and the promises of the mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.feedback import FEEDBACK_WEIGHTS
from recommender.plays import PLAY_CAP, SKIP_FLOOR, play_interactions, play_weights


@pytest.mark.parametrize(
    ("plays", "skips", "expected"),
    [
        (0, 0, 0.0),
        (1, 0, 0.25 * math.log(2)),  # 0.1733
        (5, 0, 0.25 * math.log(6)),  # 0.4479
        (20, 0, 0.25 * math.log(21)),  # 0.7611
        (23, 0, 0.25 * math.log(24)),  # 0.7945, the last under the cap
        (24, 0, 0.8),  # 0.25 * log(25) = 0.8047, capped
        (10_000, 0, 0.8),
        (0, 1, -0.1 * math.log(2)),  # -0.0693
        (0, 19, -0.1 * math.log(20)),  # -0.2996
        (0, 20, -0.3),  # -0.1 * log(21) = -0.3045, floored
        (20, 3, 0.25 * math.log(21) - 0.1 * math.log(4)),  # 0.6225: a favourite stays liked
        (1, 10, 0.25 * math.log(2) - 0.1 * math.log(11)),  # -0.0665: mostly skipped
    ],
)
def test_hand_computed_weights(plays: int, skips: int, expected: float) -> None:
    assert play_weights([plays], [skips])[0] == pytest.approx(expected, abs=1e-12)


def test_weights_are_vectorised_and_keep_the_order() -> None:
    weights = play_weights(np.array([1, 24, 0]), np.array([0, 0, 20]))
    assert weights == pytest.approx([0.25 * math.log(2), 0.8, -0.3])


def test_more_plays_never_weigh_less_and_more_skips_never_weigh_more() -> None:
    counts = np.arange(0, 200)
    by_plays = play_weights(counts, np.zeros_like(counts))
    by_skips = play_weights(np.full_like(counts, 3), counts)
    assert np.all(np.diff(by_plays) >= 0)
    assert np.all(np.diff(by_skips) <= 0)


def test_explicit_feedback_outweighs_any_listening() -> None:
    most = play_weights([10**9], [0])[0]
    least = play_weights([0], [10**9])[0]
    assert most == PLAY_CAP < FEEDBACK_WEIGHTS["like"]
    assert FEEDBACK_WEIGHTS["dislike"] + most < 0  # disliked, however often it was played
    assert least == SKIP_FLOOR >= FEEDBACK_WEIGHTS["skip"]  # a ⏭️ on a card says as much


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        play_weights([1, 2], [0])
    with pytest.raises(ValueError, match="negative"):
        play_weights([-1], [0])
    assert play_weights([], []).shape == (0,)


def test_interactions_leave_out_pairs_without_signal() -> None:
    interactions = play_interactions(
        users=[7, 7, 8],
        items=["a", "b", "c"],
        plays=[3, 0, 0],
        skips=[0, 0, 2],
        last_played=[1_600_000_000, 1_600_000_100, 1_600_000_200],
    )
    assert interactions.users.tolist() == ["7", "8"]
    assert interactions.items.tolist() == ["a", "c"]
    assert interactions.weights == pytest.approx([0.25 * math.log(4), -0.1 * math.log(3)])
    assert interactions.timestamps.tolist() == [1_600_000_000, 1_600_000_200]
    with pytest.raises(ValueError, match="same length"):
        play_interactions([1], ["a", "b"], [1, 1], [0, 0], [0, 0])
