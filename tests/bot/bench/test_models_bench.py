"""`earworm bench models`: the scaled-up data on its own, and the whole plumbing on tiny
sizes of the real Last.fm data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.bench.models import SWAP_SHARE, count_label, parse_count, scale_items, scale_rows
from recommender.data import Interactions
from tests.cli import assert_one_line_error, earworm
from tests.conftest import LASTFM, require_shared

pytestmark = pytest.mark.database_neutral(
    "the model benchmark reads the datasets, never the database"
)


def base_rows(users: int = 200, per_user: int = 25, items: int = 400) -> Interactions:
    """Users u0.. each with `per_user` distinct items of i0..i<items>, in user order."""
    rng = np.random.default_rng(7)
    user_ids, item_ids = [], []
    for user in range(users):
        for item in rng.choice(items, per_user, replace=False):
            user_ids.append(f"u{user}")
            item_ids.append(f"i{item}")
    return Interactions.from_rows(user_ids, item_ids, np.arange(len(user_ids)) + 1.0)


@pytest.mark.parametrize(
    ("text", "count"), [("5000", 5_000), ("100k", 100_000), ("1M", 1_000_000), ("2.5m", 2_500_000)]
)
def test_counts(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["", "10x", "-5", "0", "1.5", "k"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(ValueError, match=r"count|whole number"):
        parse_count(text)


def test_count_labels() -> None:
    assert [count_label(n) for n in (100_000, 1_000_000, 5_000_000, 2_500)] == [
        "100k",
        "1M",
        "5M",
        "2,500",
    ]


def test_scaled_rows_copy_users_and_swap_a_few_items() -> None:
    base = base_rows()
    scaled = scale_rows(base, 12_345, seed=3)
    assert len(scaled) == 12_345
    assert np.array_equal(scaled.users[: len(base)], base.users)  # copy 0 is the real data
    assert np.array_equal(scaled.items[: len(base)], base.items)
    second = slice(len(base), 2 * len(base))
    assert set(scaled.users[second].tolist()) == {f"u{n}~1" for n in range(200)}
    swapped = np.mean(scaled.items[second] != base.items)
    assert 0.5 * SWAP_SHARE < swapped < 1.5 * SWAP_SHARE
    assert set(scaled.items.tolist()) <= set(base.items.tolist())  # the item side stays
    assert np.array_equal(scaled.items, scale_rows(base, 12_345, seed=3).items)
    assert not np.array_equal(scaled.items, scale_rows(base, 12_345, seed=4).items)


def test_scaled_items_are_exactly_that_many_and_all_known() -> None:
    base = base_rows()
    for items in (150, 400, 1_000, 2_345):
        scaled = scale_items(base, items, seed=0)
        assert len(np.unique(scaled.items)) == items
    bigger = scale_items(base, 1_000, seed=0)
    assert any("~2" in item for item in bigger.items.tolist())  # items of the third copy
    assert len(np.unique(bigger.users)) > len(np.unique(base.users))


@pytest.mark.slow
def test_the_bench_runs_on_tiny_sizes(env: dict[str, str], tmp_path: Path) -> None:
    require_shared(LASTFM)
    out = tmp_path / "bench.json"
    result = earworm(
        "bench",
        "models",
        *("--sizes", "3k,6k", "--models", "als", "--latency-items", "2k", "--queries", "40"),
        *("--json", str(out)),
        env={**env, "EARWORM_SHARED_DATA": str(LASTFM.parent)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    training = report["training"]
    assert [(row["model"], row["size"], row["rows"]) for row in training] == [
        ("als", 3_000, 3_000),
        ("als", 6_000, 6_000),
    ]
    assert all(row["fit_seconds"] > 0 for row in training)
    assert all(row["peak_rss_mib"] >= row["rss_before_fit_mib"] > 0 for row in training)
    [latency] = report["latency"]
    assert latency["items"] == 2_000
    for stats in (latency["blas_default"], latency["blas_one_thread"]):
        assert stats["queries"] == 40
        assert 0 < stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    table = result.stdout.splitlines()
    rows = [line.split() for line in table if line.startswith("als ")]
    assert [row[1] for row in rows] == ["3k", "6k", "2k", "2k"]
    assert all(float(row[4]) > 0 for row in rows[:2])  # fit seconds


def test_the_bench_needs_lastfm(env: dict[str, str], tmp_path: Path) -> None:
    result = earworm(
        "bench", "models", "--sizes", "3k", env={**env, "EARWORM_SHARED_DATA": str(tmp_path)}
    )
    assert_one_line_error(result, "Last.fm HetRec 2K not found", "EARWORM_SHARED_DATA")


def test_bad_sizes_are_one_line(env: dict[str, str]) -> None:
    assert_one_line_error(earworm("bench", "models", "--sizes", "100k,lots", env=env), "--sizes")
