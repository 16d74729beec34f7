"""What the serving hybrid is composed from: each member's most recent rows feed content."""

from __future__ import annotations

import numpy as np

from bot.active_models import recent_rows
from recommender.data import Interactions


def test_recent_rows_keeps_each_members_newest() -> None:
    rows = Interactions.from_rows(
        ["a", "b", "a", "a", "b", "c"],
        ["1", "2", "3", "4", "5", "6"],
        [1, 1, 1, 1, 1, 1],
        [10, 50, 30, 20, 40, 5],
    )
    kept = recent_rows(rows, per_user=2)
    pairs = sorted(zip(kept.users.tolist(), kept.items.tolist(), strict=True))
    assert pairs == [("a", "3"), ("a", "4"), ("b", "2"), ("b", "5"), ("c", "6")]
    assert len(recent_rows(rows, per_user=10)) == len(rows)
    empty = Interactions.from_rows([], [])
    assert len(recent_rows(empty, per_user=2)) == 0


def test_a_heavy_member_is_capped() -> None:
    count = 500
    rows = Interactions.from_rows(
        [*(["heavy"] * count), "light"],
        [*(str(i) for i in range(count)), "x"],
        np.ones(count + 1),
        [*range(count), 0],
    )
    kept = recent_rows(rows, per_user=200)
    heavy = kept.timestamps[kept.users == "heavy"]
    assert len(heavy) == 200
    assert heavy.min() == count - 200  # the newest 200
    assert (kept.users == "light").sum() == 1
