"""`earworm bench serving` end to end, small: 3,000 rows from 60 members over a 3,000-row
catalog derived from the real one, three seconds of load. Every figure is a real
measurement: commands timed inside the bot, the swap happened, reactions reached the
database, and a second run reuses the prepared data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.bench.catalog import copy_id, derive_catalog, load_real_tracks, write_kaggle_csv
from bot.bench.serving import (
    KINDS,
    Taste,
    copy_layers,
    normalise_artist,
    plan_rows,
)
from tests.cli import assert_one_line_error, earworm
from tests.conftest import LASTFM, SHARED_DATA, SPOTIFY_CATALOG, require_shared
from tests.factories import track_id

ARGS = ["--rows", "3000", "--members", "60", "--duration", "3"]
PERCENTILES = (
    "recommend_ms",
    "similar_ms",
    "autocomplete_ms",
    "harness_ms",
    "floor_ms",
    "floor_float64_ms",
)


def _ordered(stats: dict[str, float]) -> None:
    assert 0 <= stats["p50"] <= stats["p99"] <= stats["max"], stats


@pytest.mark.slow
@pytest.mark.database_neutral("the benchmark always runs on SQLite files of its own")
def test_a_small_run_reports_every_figure(env: dict[str, str], tmp_path: Path) -> None:
    require_shared(SPOTIFY_CATALOG)
    require_shared(LASTFM)
    catalog = write_kaggle_csv(
        tmp_path / "catalog.csv",
        derive_catalog(load_real_tracks(SPOTIFY_CATALOG), 3_000, seed=0).rows,
    )
    env = {**env, "EARWORM_SHARED_DATA": str(SHARED_DATA)}
    out = tmp_path / "serving.json"
    result = earworm(
        "bench", "serving", *ARGS, "--catalog", str(catalog), "--json", str(out), env=env,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())

    assert report["rows"] == 3_000
    assert report["members"] == 60
    assert report["tracks"] > 2_000
    data = report["data"]
    assert not data["reused"]
    assert data["tastes"]["playlist"] > 0
    assert data["tastes"]["lastfm"] > 0
    assert sum(origin["rows"] for origin in data["origins"].values()) == 3_000
    assert sum(origin["members"] for origin in data["origins"].values()) == 60
    assert sum(data["kinds"].values()) == 3_000
    assert data["kinds"]["like"] > data["kinds"]["love"] > 0
    assert [(v["version"], v["status"]) for v in data["als"]] == [(1, "active"), (2, "candidate")]

    for key in PERCENTILES:
        _ordered(report[key])
        assert report[key]["n"] > 0, key
    assert report["recommend_ms"]["p50"] > 0
    # The harness probe's /help ran, one at a time, beside the load.
    assert report["harness_ms"]["n"] == report["commands"]["help"] > 0
    # The floor ran as often as /recommend did.
    assert report["floor_ms"]["n"] == report["recommend_ms"]["n"]
    if report["compute_ms"] is not None:
        _ordered(report["compute_ms"])
    else:
        assert report["compute_note"]
    lag = report["loop_lag_ms"]
    assert lag["n"] > 0
    assert 0 <= lag["p99"] <= lag["max"]

    assert report["unsettled"] is None
    swap = report["swap_ms"]
    assert swap["duration"] > 0
    assert swap["longest_stall"] >= 0
    assert swap["to_version"] == 2

    visible = report["reaction_visible_ms"]
    if visible["n"]:  # probes that saw their reaction show (a loaded machine may see none)
        _ordered(visible)
    assert visible["source"] in {"engine.member_state", "database (the engine has no member_state)"}

    reactions = report["reactions"]
    assert reactions["emitted"] >= reactions["distinct"] > 0
    assert reactions["stored"] == reactions["distinct"]
    assert report["rss_mib"] > 0
    assert report["startup_s"] > 0
    # The bot did work in the window, and one process's threads cannot pass its cores.
    cpu = report["cpu"]
    assert 0 < cpu["seconds"] <= report["window_seconds"] * report["machine"]["cpu_count"]
    assert cpu["cores"] == pytest.approx(cpu["seconds"] / report["window_seconds"], abs=1e-3)
    assert "CPU over the window:" in result.stdout
    assert report["command"].startswith("earworm bench serving --rows 3000")
    assert report["machine"]["cpu_count"] > 0

    targets = report["targets"]
    assert len(targets) == 10
    assert {t["verdict"] for t in targets} <= {"not measured at this size", "not measured"}
    assert "target /recommend p99 < 25 ms" in result.stdout

    # A second run reuses the prepared data (and the first run changed nothing in it).
    again = earworm(
        "bench", "serving", *ARGS, "--catalog", str(catalog), "--json", str(out), env=env,
        timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    second = json.loads(out.read_text())
    assert second["data"]["reused"]
    assert second["rows"] == 3_000


@pytest.mark.database_neutral("refused before any database is opened")
def test_more_members_than_rows_is_one_line(env: dict[str, str]) -> None:
    result = earworm("bench", "serving", "--rows", "100", "--members", "200", env=env)
    assert_one_line_error(result, "--members 200")


# --- the rows, without a bot ------------------------------------------------------------------


def test_copies_are_found_in_layers() -> None:
    originals = [track_id(number) for number in range(5)]
    ids = sorted([*originals, copy_id(originals[0], 1), copy_id(originals[1], 1),
                  copy_id(originals[0], 2)])  # fmt: skip
    layers = copy_layers(ids)
    assert layers.shape == (3, 5)
    assert [ids[p] for p in layers[0]] == sorted(originals)
    first = layers[0].tolist().index(ids.index(originals[0]))
    assert ids[layers[1, first]] == copy_id(originals[0], 1)
    assert ids[layers[2, first]] == copy_id(originals[0], 2)
    assert (layers[2] >= 0).sum() == 1


def test_artist_names_are_compared_normalised() -> None:
    assert normalise_artist("The Beatles") == normalise_artist("beatles")
    assert normalise_artist("Beyoncé") == "beyonce"
    assert normalise_artist("AC/DC") == "ac dc"


def test_every_planned_row_is_a_distinct_opinion() -> None:
    tracks = 400
    layers = np.vstack([np.arange(tracks // 2), np.arange(tracks // 2, tracks)])
    popularity = np.arange(tracks, dtype=float)
    tastes = [
        Taste("playlist", np.arange(start, start + 30), np.ones(30)) for start in range(0, 150, 30)
    ] + [Taste("lastfm", np.arange(10, 18), np.linspace(1, 8, 8))]  # small: extended
    plan = plan_rows(tastes, layers, popularity, rows=1_003, members=20, seed=3)
    assert len(plan) == 1_003
    counts = np.bincount(plan.members, minlength=20)
    assert set(counts.tolist()) == {50, 51}
    keys = set(zip(plan.members.tolist(), plan.positions.tolist(), strict=True))
    assert len(keys) == len(plan)  # no member has two opinions of one track
    assert set(plan.kinds.tolist()) <= set(range(len(KINDS)))
    assert (plan.seconds_ago >= 0).all()
    assert (plan.seconds_ago < 366 * 86_400).all()
    assert sum(origin["rows"] for origin in plan.origins.values()) == 1_003
    assert plan.origins["lastfm"]["other_versions"] + plan.origins["lastfm"]["next_tastes"] > 0
    # Members on layer 1 (the second pass over the tastes) get the copies.
    second_pass = plan.members >= len(tastes)
    positives = plan.kinds <= 1
    assert (plan.positions[second_pass & positives] >= tracks // 2).mean() > 0.5
    # The same seed, the same rows.
    again = plan_rows(tastes, layers, popularity, rows=1_003, members=20, seed=3)
    assert (again.positions == plan.positions).all()
