"""`earworm bench catalog`: the derived Kaggle-format file on its own, and a small real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.bench.catalog import (
    COPY_VARIANTS,
    KAGGLE_HEADER,
    QUERY_MIX,
    SourceTrack,
    build_queries,
    copy_id,
    copy_name,
    derive_catalog,
    percentile,
    strip_accents,
    write_kaggle_csv,
)
from storage.catalog.formats import TRACK_ID
from storage.catalog.parse import parse_files
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import track_id


def source_track(number: int) -> SourceTrack:
    return SourceTrack(
        id=track_id(number),
        name=f"Song {number}",
        artists=(f"Artist {number % 7}", "Beyoncé") if number % 5 == 0 else (f"Artist {number}",),
        album=f"Album {number}" if number % 3 else None,
        popularity=number % 101,
        duration_ms=180_000 + number,
        explicit=None,
        features=(0.5, 0.6, number % 12, -7.5, 1, 0.04, 0.2, 0.0, 0.1, 0.7, 120.0 + number),
        time_signature=4 if number % 2 else None,
        genres=("pop", f"sub {number % 4}") if number % 10 else ("pop",),
    )


REAL = [source_track(number) for number in range(100)]
ID_COLUMN = KAGGLE_HEADER.index("track_id")
NAME_COLUMN = KAGGLE_HEADER.index("track_name")
GENRE_COLUMN = KAGGLE_HEADER.index("track_genre")


# --- the derived file -------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 2, 50, 127, 128, 1_000, 3_000])
def test_the_derived_file_has_exactly_the_rows_asked_for(rows: int) -> None:
    derived = derive_catalog(REAL, rows, seed=0)

    assert len(derived.rows) == rows
    assert [row[0] for row in derived.rows] == [str(index) for index in range(rows)]
    assert {len(row) for row in derived.rows} == {len(KAGGLE_HEADER)}
    assert len(derived.tracks) == max(1, round(rows / 1.27))
    assert derived.extra_genre_rows == rows - len(derived.tracks)


def test_every_id_is_a_valid_spotify_id_and_each_track_has_its_own() -> None:
    derived = derive_catalog(REAL, 1_000, seed=0)
    ids = [track.id for track in derived.tracks]

    assert len(set(ids)) == len(ids) == 787
    assert all(TRACK_ID.fullmatch(track_id_) for track_id_ in ids)
    assert {row[ID_COLUMN] for row in derived.rows} == set(ids)
    assert derived.real_tracks == len(REAL)
    assert derived.copies == 787 - len(REAL)


def test_copy_ids_differ_per_copy_and_never_change() -> None:
    real_id = track_id(1)
    ids = [copy_id(real_id, copy) for copy in range(1, 51)]

    assert len(set(ids)) == 50
    assert real_id not in ids
    assert all(TRACK_ID.fullmatch(new_id) for new_id in ids)
    assert copy_id(real_id, 1) == ids[0]
    assert copy_id(track_id(2), 1) != ids[0]


def test_the_copies_of_one_track_have_different_names() -> None:
    names = [copy_name("Halo", track_id(1), copy) for copy in range(1, 15)]

    assert len(set(names)) == len(names)
    assert all(name.startswith("Halo ") for name in names)
    assert names[-1] == "Halo (Version 14)"


def test_the_same_seed_derives_the_same_file_and_another_seed_another() -> None:
    first = derive_catalog(REAL, 500, seed=7)

    assert derive_catalog(REAL, 500, seed=7).rows == first.rows
    assert derive_catalog(REAL, 500, seed=8).rows != first.rows


def test_copies_keep_real_audio_features_under_versioned_names() -> None:
    derived = derive_catalog(REAL, 1_000, seed=0)
    real_features = {track.features for track in REAL}
    copies = derived.tracks[len(REAL) :]

    assert all(track.features in real_features for track in copies)
    assert not {track.name for track in copies} & {track.name for track in REAL}
    variants = Counter(
        next((v for v in COPY_VARIANTS if track.name.endswith(v)), "other") for track in copies
    )
    assert len(variants) > len(COPY_VARIANTS) // 2  # spread, not one word on every copy 1
    assert len({track.name for track in copies}) == len(copies)


def test_a_smaller_file_is_a_sample_of_the_real_tracks() -> None:
    derived = derive_catalog(REAL, 50, seed=0)

    assert derived.copies == 0
    assert {track.id for track in derived.tracks} <= {track.id for track in REAL}


def test_repeated_ids_are_listed_under_another_genre() -> None:
    derived = derive_catalog(REAL, 1_000, seed=0)
    genres_by_id: dict[str, list[str]] = {}
    for row in derived.rows:
        genres_by_id.setdefault(row[ID_COLUMN], []).append(row[GENRE_COLUMN])

    repeated = [genres for genres in genres_by_id.values() if len(genres) > 1]
    assert sum(len(genres) - 1 for genres in repeated) == derived.extra_genre_rows
    assert all(len(set(genres)) == len(genres) for genres in repeated)


def test_the_importer_reads_the_derived_file_as_the_kaggle_format(tmp_path: Path) -> None:
    derived = derive_catalog(REAL, 1_000, seed=0)
    path = write_kaggle_csv(tmp_path / "kaggle.csv", derived.rows)

    parsed = parse_files([path])

    assert parsed.formats == ["kaggle-tracks-114k"]
    assert parsed.rows_read == 1_000
    assert not parsed.skipped
    assert len(parsed.tracks) == len(derived.tracks)
    beyonce = next(track for track in parsed.tracks.values() if len(track.artists) == 2)
    assert beyonce.artists[1] == "Beyoncé"  # ';'-joined artists split back


def test_derivation_refuses_nothing_to_derive_from() -> None:
    with pytest.raises(ValueError, match="no real tracks"):
        derive_catalog([], 10, seed=0)


# --- queries and percentiles --------------------------------------------------------------


def test_queries_are_seeded_and_cover_the_mix() -> None:
    tracks = derive_catalog(REAL, 1_000, seed=0).tracks
    queries = build_queries(tracks, 400, seed=3)

    assert build_queries(tracks, 400, seed=3) == queries
    assert {query.kind for query in queries} == set(QUERY_MIX)
    assert all(query.text.strip() for query in queries)
    stripped = [query.text for query in queries if query.kind == "accent_stripped"]
    assert stripped
    assert all(text.isascii() for text in stripped)


def test_accents_are_stripped_from_latin_letters_only() -> None:
    assert strip_accents("Beyoncé, ROSALÍA, Motörhead") == "Beyonce, ROSALIA, Motorhead"
    assert strip_accents("ガンダム") == "ガンダム"


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(100, 0, -1)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0


# --- the command ---------------------------------------------------------------------------


def earworm_env(tmp_path: Path, shared_data: Path) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EARWORM_", "DISCORD_", "SPOTIFY_"))
    }
    return {
        **clean,
        "EARWORM_DATA_DIR": str(tmp_path / "data"),
        "EARWORM_SHARED_DATA": str(shared_data),
        "EARWORM_LOG_LEVEL": "WARNING",
    }


def bench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "bench", "catalog", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bench_without_the_real_datasets_says_where_it_looked(tmp_path: Path) -> None:
    result = bench("--rows", "10", env=earworm_env(tmp_path, tmp_path / "nowhere"))

    assert result.returncode == 2
    assert "real catalog not found" in result.stderr
    assert str(tmp_path / "nowhere") in result.stderr


@pytest.mark.slow
@pytest.mark.database_neutral("measures imports into SQLite files of its own")
def test_bench_catalog_reports_sane_figures(tmp_path: Path) -> None:
    folder = require_shared(SPOTIFY_CATALOG)

    out = tmp_path / "figures.json"
    result = bench(
        *("--rows", "3000", "--queries", "50", "--json", str(out)),
        env=earworm_env(tmp_path, folder.parent),
    )

    assert result.returncode == 0, result.stderr
    assert "search" in result.stdout  # the report is printed too
    report = json.loads(out.read_text())
    assert report["command"] == "earworm bench catalog --rows 3000 --queries 50 --seed 0"
    assert report["machine"]["cpu_count"] >= 1
    assert report["derived"]["rows"] == 3000
    real, fresh, again = report["imports"]
    for run in (real, fresh, again):
        assert run["wall_seconds"] > 0
        assert run["import_seconds"] > 0
        assert run["peak_rss_mib"] > 10
        assert run["database_bytes"] > 0
    assert real["summary"]["tracks_inserted"] == real["summary"]["tracks_in_file"] > 30_000
    assert fresh["summary"]["rows_read"] == 3000
    assert fresh["summary"]["tracks_inserted"] == report["derived"]["distinct_ids"]
    assert again["summary"]["rows_read"] == 3000
    assert again["summary"]["tracks_unchanged"] == again["summary"]["tracks_in_file"]
    assert again["summary"]["tracks_inserted"] == again["summary"]["tracks_updated"] == 0

    search = report["search"]
    assert search["queries"] == 50
    assert 0 < search["p50_ms"] <= search["p90_ms"] <= search["p99_ms"] <= search["max_ms"]
    assert 0.5 < search["with_results"] <= 1
    assert sum(kind["queries"] for kind in search["by_type"].values()) == 50
    assert len(search["slowest"]) == 5
    assert report["targets"]["import"]["applies"] is False  # 3,000 rows say nothing of 114k
