"""`earworm bench similarity`: the held-out playlist check on a small world (every step,
no shared data needed) and, on the real catalog files, the command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bot.bench.similarity import (
    METHODS,
    Judge,
    Query,
    evaluate,
    make_queries,
    read_playlist_catalog,
    run_similarity_bench,
    song_ids,
    split_playlists,
)
from tests.bot.style_world import PLAYLISTS, write_style_catalog
from tests.cli import assert_one_line_error, clean_env, earworm
from tests.conftest import LASTFM, SPOTIFY_CATALOG, require_shared


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_style_catalog(tmp_path / "style.csv")
    return tmp_path


def test_the_catalog_keeps_every_playlist_row_and_rebuilds_genres(folder: Path) -> None:
    data = read_playlist_catalog(folder)

    assert len(data.catalog) == 22
    assert len(data.row_track) == 20  # two tracks are in no playlist
    assert set(data.row_playlist.tolist()) == set(PLAYLISTS.values())
    only_rock = data.row_playlist == PLAYLISTS["rock"]
    genres = data.genres_from(only_rock)
    assert genres[data.catalog.vocab.index(data.catalog.ids[5])] == ("rock", "album rock")
    assert genres[0] == ()  # Take On Me: its playlist is not among the rows chosen
    assert np.isnan(data.catalog.release_years[21])  # the demo without a date


def test_splits_and_queries_hold_the_test_playlists_out(folder: Path) -> None:
    data = read_playlist_catalog(folder)
    fit, test = split_playlists(data.row_playlist, 0)
    again = split_playlists(data.row_playlist, 0)

    assert (list(fit), list(test)) == (list(again[0]), list(again[1]))
    assert len(test) == 1  # a quarter of four playlists
    assert set(fit).isdisjoint(test)
    queries = make_queries(data, test, song_ids(data.catalog), 100, 0)
    members = set(data.row_track[data.row_playlist == test[0]].tolist())
    assert len(queries) == len(members)
    for query in queries:
        assert query.seed in members
        assert set(query.relevant.tolist()) == members - {query.seed}


def test_the_metrics_by_hand() -> None:
    genres = np.asarray([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
    judge = Judge(
        genres=sp.csr_matrix(genres),
        years=np.asarray([2000.0, 2002.0, 2010.0, np.nan]),
        embedding=np.asarray([[0, 0], [3, 4], [0, 1], [1, 0]], dtype=np.float32),
        has_embedding=np.asarray([True, True, True, False]),
    )
    figures = evaluate(judge, [Query(0, np.asarray([1]))], lambda _: np.asarray([2, 1, 3]))

    assert figures["p10"] == pytest.approx(0.1)
    assert figures["hr10"] == 1.0
    assert figures["ndcg10"] == pytest.approx(1 / np.log2(3))  # the hit is second
    assert figures["genre_p10"] == pytest.approx(2 / 3)  # tracks 1 and 3 share genre 0
    assert figures["year_gap"] == pytest.approx(6.0)  # median of 10 and 2
    assert figures["emb_dist"] == pytest.approx(3.0)  # mean of 1 and 5; 3 has no vector


def test_every_method_and_variant_on_a_small_world(folder: Path) -> None:
    report = run_similarity_bench(
        folder, splits=2, queries=20, seed=0, latency_rows=0, latency_queries=0, lastfm=None
    )

    results = report["co_membership"]["results"]
    assert set(results) == {"all", "fit"}
    for variant in results.values():
        assert set(variant) == set(METHODS)
        for figures in variant.values():
            assert 0.0 <= figures["p10"]["mean"] <= figures["hr10"]["mean"] <= 1.0
    assert len(report["co_membership"]["splits"]) == 2
    # Five tracks a scene: the blend fills its ten with other scenes after its own.
    normal, sound = results["all"]["normal"], results["all"]["sound"]
    assert normal["genre_p10"]["mean"] >= sound["genre_p10"]["mean"]
    assert normal["p10"]["mean"] >= sound["p10"]["mean"]
    assert "latency" not in report


@pytest.mark.slow
@pytest.mark.database_neutral("an offline evaluation: it opens no database")
def test_the_command_on_the_real_catalog(tmp_path: Path) -> None:
    shared = require_shared(SPOTIFY_CATALOG).parent
    env = {**clean_env(tmp_path / "data"), "EARWORM_SHARED_DATA": str(shared)}
    out = tmp_path / "similarity.json"
    result = earworm(
        *("bench", "similarity", "--splits", "1", "--queries", "150"),
        *("--latency-rows", "3000", "--latency-queries", "30", "--embedding-epochs", "2"),
        *("--json", str(out)),
        env=env,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    assert "mode: normal (style blend, after)" in result.stdout
    report = json.loads(out.read_text())
    assert report["catalog"]["playlists"] == 580
    leaky = report["co_membership"]["results"]["all"]
    free = report["co_membership"]["results"]["fit"]
    # The blend finds held-out playlist mates far more often than the audio alone did.
    assert leaky["normal"]["p10"]["mean"] > 5 * leaky["sound"]["p10"]["mean"]
    assert free["normal"]["p10"]["mean"] > free["rule"]["p10"]["mean"]
    assert leaky["normal"]["year_gap"]["mean"] < 6
    assert report["latency"]["latency"]["normal (as served from this file)"]["queries"] == 30
    if LASTFM.is_dir():
        relations = report["lastfm"]["results"]["playlist relations (NPMI, every playlist)"]
        assert relations["p10"] > report["lastfm"]["results"]["random"]["p10"]


def test_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    assert_one_line_error(
        earworm("bench", "similarity", "--data", str(tmp_path / "nowhere"), env=env),
        "the playlist-based catalog files are not at",
    )
