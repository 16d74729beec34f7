"""`earworm bench training` end to end, small: a few thousand Last.fm rows over a 300-track
catalog, a two-second idle window, ALS only. The figures are real measurements: both
windows timed requests, the training ended with its candidates, every reload was timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, earworm
from tests.conftest import LASTFM, require_shared
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

TRACKS = 300
GENRES = ("pop", "rock", "jazz", "techno", "folk")


@pytest.fixture
def catalog_dir(env: dict[str, str], tmp_path: Path) -> Path:
    """A data directory whose database holds TRACKS tracks of varied sound and popularity."""
    rows = [
        kaggle_row(
            number,
            track_id(number),
            f"Song {number}",
            f"Artist {number // 3}",
            GENRES[number % len(GENRES)],
            popularity=str(number * 7 % 101),
            danceability=f"{number % 17 / 17:.3f}",
            energy=f"{number % 13 / 13:.3f}",
            valence=f"{number % 11 / 11:.3f}",
        )
        for number in range(TRACKS)
    ]
    catalog = write_csv(tmp_path / "catalog.csv", KAGGLE_114K_HEADER, rows)
    result = earworm("catalog", "import", str(catalog), env=env)
    assert result.returncode == 0, result.stderr
    return Path(env["EARWORM_DATA_DIR"])


@pytest.mark.sqlite_only("works on a copy of the SQLite file")
def test_a_small_run_measures_idle_training_and_the_swap(
    catalog_dir: Path, env: dict[str, str], tmp_path: Path
):
    require_shared(LASTFM)
    out = tmp_path / "bench.json"
    args = ["--rows", "3000", "--idle-seconds", "2", "--rate", "20", "--members", "5"]
    result = earworm(
        "bench",
        "training",
        *args,
        "--kinds",
        "als",
        "--json",
        str(out),
        env={**env, "EARWORM_SHARED_DATA": str(LASTFM.parent)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())

    feedback = report["feedback"]
    assert feedback["rows_made"] == 3000
    assert 0 < feedback["rows_stored"] <= 3000
    assert feedback["rows_after_seed"] > 0
    assert feedback["insert_seconds"] > 0
    assert report["seed_training"]["ok"]
    assert {"kind": "als", "status": "active"}.items() <= report["seed_training"]["results"][
        0
    ].items()

    training = report["training"]
    assert training["kinds"] == ["als"]
    assert training["seconds"] > 0
    assert training["ok"], training["error"]
    assert [r["kind"] for r in training["results"]] == ["als"]
    promoted = training["results"][0]["status"] == "active"

    windows = report["windows"]
    for name in ("idle", "training"):
        window = windows[name]
        assert window["seconds"] > 0
        recommend = window["latency_ms"]["command recommend"]
        assert recommend["count"] > 0
        assert 0 < recommend["p50_ms"] <= recommend["p99_ms"] <= recommend["max_ms"]
        assert window["loop_lag_ms"]["count"] > 0
        assert window["longest_stall_ms"] >= 0
    # The runner swaps the engine only when it promoted a candidate.
    assert ("swap" in windows) == promoted == (report["swap_in_run"] is not None)
    swaps = [report["swap_explicit"], *([report["swap_in_run"]] if promoted else [])]
    for swap in swaps:
        assert swap["seconds"] > 0
        assert swap["loop_blocked_max_ms"] >= 0
        assert swap["memory_source"] in {"VmHWM", "ru_maxrss"}
        assert swap["peak_rss_mib"] > 0
    assert report["requests_emitted"] >= sum(
        stats["count"]
        for window in windows.values()
        for name, stats in window["latency_ms"].items()
        if not name.startswith("compute ")  # the scoring inside a /recommend, not a request
    )

    verdicts = {target["key"]: target for target in report["targets"]}
    assert set(verdicts) == {"loop lag", "recommend"}
    idle_p99 = windows["idle"]["latency_ms"]["command recommend"]["p99_ms"]
    assert verdicts["recommend"]["limit_ms"] == pytest.approx(2 * idle_p99, abs=2e-3)  # rounded
    assert verdicts["loop lag"]["met"] == (windows["training"]["loop_lag_ms"]["p99_ms"] < 10)
    assert "/recommend p99 ms" in result.stdout
    assert "explicit engine.reload()" in result.stdout
    for stall in report["stalls"]:  # each long stall says when and during what
        assert stall["lag_ms"] >= 50
        assert stall["during"]


def test_unknown_kinds_are_one_line(catalog_dir: Path, env: dict[str, str]):
    result = earworm("bench", "training", "--rows", "1000", "--kinds", "als,bpr", env=env)
    assert_one_line_error(result, "--kinds")
