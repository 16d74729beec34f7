from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recommender.data import Interactions
from recommender.evaluation.splits import (
    Split,
    SplitProtocol,
    holdout,
    leave_one_out,
    newer_than,
    sample_negatives,
)


def pairs(interactions: Interactions) -> set[tuple[str, str]]:
    return set(zip(interactions.users.tolist(), interactions.items.tolist(), strict=True))


@pytest.fixture
def listens() -> Interactions:
    """u1 has 4 items (b played twice), u2 has 2, u3 has 1; u4 likes x but disliked y."""
    rows = [
        ("u1", "a", 1, 10),
        ("u1", "b", 1, 20),
        ("u1", "b", 1, 50),
        ("u1", "c", 1, 30),
        ("u1", "d", 1, 40),
        ("u2", "a", 1, 10),
        ("u2", "c", 1, 60),
        ("u3", "a", 1, 10),
        ("u4", "x", 1, 10),
        ("u4", "y", -1, 99),
        ("u4", "z", 2, 5),
    ]
    users, items, weights, times = zip(*rows, strict=True)
    return Interactions.from_rows(users, items, weights, times)


def assert_honest(split: Split, original: Interactions) -> None:
    """No held-out pair in train, and every row either trains or is a held-out pair."""
    assert pairs(split.train).isdisjoint(pairs(split.test))
    assert pairs(split.train) | pairs(split.test) == pairs(original)
    held_rows = sum(
        1
        for pair in zip(original.users, original.items, strict=True)
        if tuple(map(str, pair)) in pairs(split.test)
    )
    assert len(split.train) + held_rows == len(original)


def test_leave_one_out_holds_out_one_pair_per_user(listens: Interactions) -> None:
    split = leave_one_out(listens, seed=0)
    assert_honest(split, listens)
    # u3 has a single pair: not tested, still trains.
    assert sorted(split.test.users.tolist()) == ["u1", "u2", "u4"]
    assert "u3" in split.train.users.tolist()


def test_a_repeated_pair_leaves_train_with_all_its_rows(listens: Interactions) -> None:
    for seed in range(30):
        split = leave_one_out(listens, seed=seed)
        if ("u1", "b") in pairs(split.test):
            assert ("u1", "b") not in pairs(split.train)
            row = split.test.items.tolist().index("b")
            assert split.test.weights[row] == 2.0  # both plays, summed
            return
    pytest.fail("no seed held out (u1, b)")


def test_disliked_items_are_never_held_out(listens: Interactions) -> None:
    held_by_u4 = {
        item
        for seed in range(40)
        for user, item in pairs(leave_one_out(listens, seed=seed).test)
        if user == "u4"
    }
    assert held_by_u4 == {"x", "z"}


def test_seeds_are_reproducible_and_vary(listens: Interactions) -> None:
    first = leave_one_out(listens, seed=7)
    assert pairs(leave_one_out(listens, seed=7).test) == pairs(first.test)
    held = Counter(
        item
        for seed in range(200)
        for user, item in pairs(leave_one_out(listens, seed=seed).test)
        if user == "u1"
    )
    assert set(held) == {"a", "b", "c", "d"}  # every item of u1 gets its turn
    assert min(held.values()) > 25  # roughly uniform: 50 expected each


def test_latest_holds_out_the_newest_pair(listens: Interactions) -> None:
    split = leave_one_out(listens, order="latest")
    # u1: b's latest play (50) beats d (40); u2: c (60); u4: the dislike at 99 cannot count.
    assert pairs(split.test) == {("u1", "b"), ("u2", "c"), ("u4", "x")}
    assert_honest(split, listens)


def test_latest_needs_timestamps() -> None:
    untimed = Interactions.from_rows(["u", "u", "v", "v"], ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="needs timestamps"):
        leave_one_out(untimed, order="latest")


def test_min_interactions(listens: Interactions) -> None:
    strict = leave_one_out(listens, min_interactions=3)
    assert sorted(strict.test.users.tolist()) == ["u1"]
    cold = leave_one_out(listens, min_interactions=1)
    assert "u3" in cold.test.users.tolist()
    assert "u3" not in cold.train.users.tolist()  # tested with nothing in train


def test_holdout_fraction_rounds_half_up_and_keeps_one_in_train() -> None:
    users = ["four"] * 4 + ["three"] * 3 + ["two"] * 2 + ["ten"] * 10
    items = [f"i{n}" for n in range(4 + 3 + 2 + 10)]
    data = Interactions.from_rows(users, items)
    split = holdout(data, 0.5, seed=1)
    held = Counter(split.test.users.tolist())
    kept = Counter(split.train.users.tolist())
    # 0.5 x 4 = 2; 0.5 x 3 = 1.5 -> 2; 0.5 x 2 = 1; 0.5 x 10 = 5.
    assert held == {"four": 2, "three": 2, "two": 1, "ten": 5}
    assert kept == {"four": 2, "three": 1, "two": 1, "ten": 5}
    small = holdout(data, 0.01, seed=1)
    assert Counter(small.test.users.tolist()) == {"four": 1, "three": 1, "two": 1, "ten": 1}
    large = holdout(data, 0.99, seed=1)
    assert Counter(large.train.users.tolist()) == {"four": 1, "three": 1, "two": 1, "ten": 1}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 2.0])
def test_holdout_fraction_must_be_a_proper_share(listens: Interactions, fraction: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        holdout(listens, fraction)


def test_sampled_negatives_are_unseen_items(listens: Interactions) -> None:
    split = leave_one_out(listens, seed=0)
    negatives = sample_negatives(split, 2, seed=0)
    seen = pairs(split.train) | pairs(split.test)
    assert pairs(negatives).isdisjoint(seen)
    per_user = Counter(negatives.users.tolist())
    # u1 has seen a-d; only x, y, z are left for it: 2 of them. u4 has seen x, y, z.
    assert per_user["u1"] == 2
    assert per_user["u4"] == 2
    assert set(per_user) == set(split.test.users.tolist())
    assert pairs(sample_negatives(split, 2, seed=0)) == pairs(negatives)


def test_protocol_dispatches(listens: Interactions) -> None:
    loo = SplitProtocol().split(listens, seed=3)
    assert pairs(loo.test) == pairs(leave_one_out(listens, seed=3).test)
    protocol = SplitProtocol(scheme="holdout", fraction=0.5, sampled_negatives=1)
    split = protocol.split(listens, seed=3)
    assert pairs(split.test) == pairs(holdout(listens, 0.5, seed=3).test)
    negatives = protocol.negatives(split, seed=3)
    assert negatives is not None
    assert len(negatives) == len(set(split.test.users.tolist()))
    assert SplitProtocol().negatives(split, seed=3) is None


def test_large_split_is_fast_and_consistent() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 2_000, 100_000).astype(str)
    items = rng.integers(0, 20_000, 100_000).astype(str)
    data = Interactions.from_rows(users.tolist(), items.tolist())
    split = leave_one_out(data, seed=0)
    assert pairs(split.train).isdisjoint(pairs(split.test))
    assert len(split.test) == len(set(split.test.users.tolist()))


def test_newer_rows_are_the_holdout_of_members_with_older_ones() -> None:
    data = Interactions.from_rows(
        ["a", "a", "b", "a", "a", "b", "c", "a"],
        ["x", "y", "x", "z", "x", "w", "x", "v"],
        [1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -0.3],
    )
    newer = np.array([False, False, False, True, True, True, True, True])

    split = newer_than(data, newer)

    assert len(split.train) == 3  # every newer row leaves train
    # a's new z is tested; a's x again is no discovery; b's new w is disliked; c has no
    # older rows; a skipped v.
    assert list(zip(split.test.users.tolist(), split.test.items.tolist(), strict=True)) == [
        ("a", "z")
    ]


def test_nothing_newer_means_an_empty_holdout() -> None:
    data = Interactions.from_rows(["a", "b"], ["x", "y"])
    assert len(newer_than(data, np.array([False, False])).test) == 0
    assert len(newer_than(data, np.array([True, True])).test) == 0  # nobody has older rows
    with pytest.raises(ValueError, match="flag every interaction"):
        newer_than(data, np.array([True]))
