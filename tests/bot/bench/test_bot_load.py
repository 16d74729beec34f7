"""`earworm bench bot` end to end on the small world catalog: every phase runs, every
reaction is stored exactly once, and the numbers are real measurements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, earworm


@pytest.mark.sqlite_only("works on a copy of the SQLite file")
def test_a_small_run_measures_every_phase(imported: Path, env: dict[str, str], tmp_path: Path):
    out = tmp_path / "bench.json"
    args = ["--members", "4", "--rate", "20", "--duration", "0.5", "--rounds", "1"]
    result = earworm(
        "bench", "bot", *args, "--reactions", "40", "--likes", "2", "--json", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["tracks"] == 9
    assert report["feedback_rows"] == 4 * 2  # the seeded likes
    # Timed inside the bot: each interaction, and the scoring part of /recommend.
    known = {"command recommend", "command similar", "autocomplete similar", "compute recommend"}
    for phase in ("paced", "burst"):
        latency = report[phase]["latency_ms"]
        assert latency
        assert set(latency) <= known
        for stats in latency.values():
            assert 0 < stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"]
        assert report[phase]["loop_lag_ms"]["count"] > 0
    # One burst: each of the four members did exactly one thing.
    assert sum(stats["count"] for stats in report["burst"]["latency_ms"].values()) == 4
    reactions = report["reactions"]
    assert reactions["events"] == reactions["stored"] == reactions["expected"] == 40
    assert reactions["per_second"] > 0
    direct = report["reactions_direct"]
    assert direct["events"] == direct["stored"] == 40
    assert "none lost" in result.stdout
    # The prepared database is left as it was: the run worked on a copy.
    again = earworm("bench", "bot", *args, "--reactions", "40", "--likes", "2", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("none lost") == 2


def test_too_many_reactions_for_the_cards_is_one_line(imported: Path, env: dict[str, str]):
    result = earworm(
        "bench", "bot", "--members", "2", "--duration", "0.2", "--rounds", "1",
        "--reactions", "100", "--likes", "2", env=env,
    )  # fmt: skip
    assert_one_line_error(result, "--reactions 100", "distinct reactions")
