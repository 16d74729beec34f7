"""`earworm bench embeddings` and its logic (bot/bench/embeddings.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.bench.embeddings import (
    genre_precision,
    held_out_tracks,
    query_tracks,
    run_embedding_bench,
    without_genres,
)
from recommender.content import ContentSimilarity
from recommender.data import Interactions, ItemCatalog
from recommender.diversity import song_key
from tests.cli import assert_one_line_error, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import TIDY_HEADER, csv_text, tidy_row, track_id, write_zip
from tests.recommender.tiny import tiny_catalog

pytestmark = pytest.mark.database_neutral(
    "the embedding benchmark reads the catalog files, never the database"
)

# Small worlds: train quickly, and let the genre network learn from 30 tracks.
SHORT = {"embedding_epochs": 30, "min_labelled_tracks": 0}
GENRES = (("pop", "dance pop"), ("rock", "hard rock"), ("r&b", "neo soul"))


def versioned_catalog() -> ItemCatalog:
    """tiny_catalog plus a live version of every tenth track (same title, same artist)."""
    base = tiny_catalog()
    extra = list(range(0, 30, 10))
    return ItemCatalog(
        ids=np.asarray([*base.ids.tolist(), *(f"live{n}" for n in extra)]),
        names=[*base.names, *(f"{base.names[n]} - Live" for n in extra)],
        artists=[*base.artists, *(base.artists[n] for n in extra)],
        genres=[*base.genres, *(base.genres[n] for n in extra)],
        popularity=np.concatenate([base.popularity, base.popularity[extra]]),
        features=np.vstack([base.features, base.features[extra]]),
        feature_names=base.feature_names,
    )


def test_held_out_songs_take_every_version_with_them() -> None:
    catalog = versioned_catalog()
    songs = {song_key(catalog, index) for index in range(len(catalog))}

    for seed in range(5):
        held = held_out_tracks(catalog, 0.2, seed)
        for n in range(0, 30, 10):
            assert held[catalog.vocab.index(f"i{n:02d}")] == held[catalog.vocab.index(f"live{n}")]
        held_songs = {song_key(catalog, index) for index in np.flatnonzero(held)}
        assert len(held_songs) == round(len(songs) * 0.2)
    assert not np.array_equal(held_out_tracks(catalog, 0.2, 0), held_out_tracks(catalog, 0.2, 1))


def test_no_model_sees_the_genres_of_held_out_tracks() -> None:
    catalog = tiny_catalog()
    held = held_out_tracks(catalog, 0.3, 0)

    blind = without_genres(catalog, held)

    assert all(blind.genres[index] == () for index in np.flatnonzero(held))
    assert all(blind.genres[index] == catalog.genres[index] for index in np.flatnonzero(~held))
    queries = query_tracks(catalog, held, 100, 0)
    assert set(queries) == set(catalog.ids[held].tolist())


def test_genre_precision_is_judged_by_the_true_genres() -> None:
    catalog = tiny_catalog()  # features clustered by genre: neighbours share it
    model = ContentSimilarity(cluster_candidates=(3,)).fit(Interactions.from_rows([], []), catalog)
    wrong = without_genres(catalog, np.ones(len(catalog), dtype=bool))

    assert genre_precision(model, ["i00", "i15", "i25"], catalog, k=5) == 1.0
    assert genre_precision(model, ["i00", "i15", "i25"], wrong, k=5) == 0.0


def test_the_bench_reports_every_representation_per_seed() -> None:
    report = run_embedding_bench(
        tiny_catalog(), seeds=[0, 1], queries=5, held_out_share=0.3, tuning=SHORT
    )

    assert report["tracks"] == 30
    assert report["queries_per_seed"] == [5, 5]
    assert set(report["results"]) == {"features", "genre-net", "autoencoder"}
    for result in report["results"].values():
        assert len(result["per_seed"]) == 2
        assert all(0.0 <= value <= 1.0 for value in result["per_seed"])
        assert result["mean"] == pytest.approx(np.mean(result["per_seed"]), abs=1e-4)
    assert report["results"]["features"]["encoder"] == []
    assert [e["objective"] for e in report["results"]["genre-net"]["encoder"]] == ["genres"] * 2


# --- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def songs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TidyTuesday spotify_songs.zip: 60 tracks in three genres, each in its own corner."""
    rng = np.random.default_rng(0)
    rows = []
    for number in range(60):
        genre, subgenre = GENRES[number % 3]
        corner = number % 3
        features = {
            "danceability": f"{0.2 + 0.3 * corner + rng.uniform(0, 0.05):.3f}",
            "energy": f"{0.9 - 0.3 * corner + rng.uniform(0, 0.05):.3f}",
            "valence": f"{rng.uniform(0, 1):.3f}",
            "tempo": f"{100 + 20 * corner + rng.uniform(0, 5):.1f}",
        }
        rows.append(
            tidy_row(
                track_id(number),
                f"Song {number}",
                f"Artist {number}",
                genre,
                subgenre,
                playlist_id=f"playlist{number % 6}",
                **features,
            )
        )
    folder = tmp_path_factory.mktemp("shared") / "spotify_catalog"
    folder.mkdir()
    write_zip(folder / "spotify_songs.zip", {"spotify_songs.csv": csv_text(TIDY_HEADER, rows)})
    return folder.parent


def test_embed_bench_prints_the_comparison(env: dict[str, str], songs_dir: Path) -> None:
    args = ("--data-dir", str(songs_dir), "--seeds", "0-1", "--queries", "8")
    result = earworm("bench", "embeddings", *args, env=env)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "earworm bench embeddings --seeds 0-1 --queries 8 --held-out 0.2"
    assert "60 tracks, 6 genres" in lines[1]
    assert "8-8 held-out queries per seed, seeds 0,1" in lines[1]
    rows = {line.split()[0]: line.split() for line in lines[5:]}
    assert set(rows) == {"features", "genre-net", "autoencoder"}
    for row in rows.values():
        per_seed = [float(value.rstrip(",")) for value in row[5:]]
        assert len(per_seed) == 2
        assert float(row[1]) == pytest.approx(np.mean(per_seed), abs=1e-4)
        assert all(0.0 <= value <= 1.0 for value in per_seed)


def test_embed_bench_json_has_every_figure(songs_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli.bench.embeddings import command

    out = tmp_path / "figures.json"
    args = ["--data-dir", str(songs_dir), "--seeds", "3", "--queries", "5", "--json", str(out)]
    result = CliRunner().invoke(command, args)

    assert result.exit_code == 0, result.output
    assert "genre-precision@10" in result.stdout
    report = json.loads(out.read_text())
    assert report["seeds"] == [3]
    assert report["queries_per_seed"] == [5]
    assert report["source"] == f"spotify_songs in {songs_dir}"
    assert set(report["results"]) == {"features", "genre-net", "autoencoder"}


def test_embed_bench_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    missing = earworm("bench", "embeddings", "--data-dir", str(tmp_path / "nowhere"), env=env)
    assert_one_line_error(missing, "spotify_songs.zip", "not found")
    bad_seeds = earworm("bench", "embeddings", "--seeds", "two", env=env)
    assert_one_line_error(bad_seeds, "--seeds")


@pytest.mark.slow
def test_on_real_tracks_the_genre_network_beats_raw_features_on_unseen_genres() -> None:
    from recommender.evaluation.datasets import load_spotify_playlists

    require_shared(SPOTIFY_CATALOG / "spotify_songs.zip")
    catalog = load_spotify_playlists(SPOTIFY_CATALOG).catalog
    assert catalog is not None

    report = run_embedding_bench(
        catalog, seeds=[0], queries=400, representations=("features", "genre-net")
    )

    results = report["results"]
    assert report["tracks"] == 28_356
    assert results["genre-net"]["encoder"][0]["genres"] == 30
    assert results["genre-net"]["mean"] > results["features"]["mean"] + 0.02
