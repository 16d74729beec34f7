"""`earworm similar` and `earworm mix`, run as a user would against an imported catalog."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.bench.similar import JITTER, run_content_bench, scale_catalog
from recommender.diversity import song_key
from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.repositories.catalog_version import CatalogVersion, catalog_version
from tests.cli import assert_one_line_error, clean_env, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv
from tests.recommender.tiny import tiny_catalog

GENRES = ("pop", "rock", "jazz", "edm")
HALO = track_id(0)
HALO_LIVE = track_id(1)


def _features(genre_index: int, step: int) -> dict[str, str]:
    """Each genre in its own corner of the feature space; tracks spread a little inside."""
    return {
        "danceability": f"{0.2 + 0.2 * genre_index + 0.004 * step:.3f}",
        "energy": f"{0.85 - 0.2 * genre_index + 0.002 * step:.3f}",
        "valence": f"{0.3 + 0.15 * genre_index - 0.002 * step:.3f}",
        "acousticness": f"{0.1 + 0.2 * genre_index:.3f}",
        "tempo": f"{90 + 15 * genre_index + step:.1f}",
        "key": str(step % 12),
    }


@pytest.fixture(scope="module")
def catalog_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        kaggle_row(0, HALO, "Halo", "Beyoncé", "pop", **_features(0, 0)),
        kaggle_row(1, HALO_LIVE, "Halo - Live", "Beyoncé", "pop", **_features(0, 0)),
    ]
    for number in range(2, 42):
        genre = number % len(GENRES)
        artist = "Prolific" if number % 5 == 0 else f"Artist {number}"
        rows.append(
            kaggle_row(
                number,
                track_id(number),
                f"Song {number}",
                artist,
                GENRES[genre],
                **_features(genre, number),
            )
        )
    path = tmp_path_factory.mktemp("catalog") / "catalog.csv"
    return write_csv(path, KAGGLE_114K_HEADER, rows)


def _import(env: dict[str, str], catalog_csv: Path) -> dict[str, str]:
    result = earworm("catalog", "import", str(catalog_csv), "--json", env=env)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, catalog_csv: Path) -> dict[str, str]:
    """One imported catalog for the tests that only read it."""
    return _import(clean_env(tmp_path_factory.mktemp("shared") / "data"), catalog_csv)


def test_similar_prints_json_with_the_fields_asked_for(imported: dict[str, str]) -> None:
    # mode sound: the audio features alone (what mode normal was before style similarity)
    result = earworm("similar", HALO, "--json", "--mode", "sound", env=imported)

    assert result.returncode == 0, result.stderr
    tracks = json.loads(result.stdout)
    assert len(tracks) == 10
    for track in tracks:
        assert {"id", "name", "artists", "score", "reason", "url"} <= set(track)
        assert isinstance(track["artists"], list)
        assert track["url"] == f"https://open.spotify.com/track/{track['id']}"
        assert "to Halo by Beyoncé" in track["reason"]
    ids = [track["id"] for track in tracks]
    assert HALO not in ids
    assert HALO_LIVE not in ids  # another version of the same song
    assert max(Counter(tuple(t["artists"]) for t in tracks).values()) <= 2
    scores = [track["score"] for track in tracks]
    assert scores == sorted(scores, reverse=True)


def test_a_query_a_url_and_an_id_find_the_same_seed(imported: dict[str, str]) -> None:
    by_id = earworm("similar", HALO, "--json", "--k", "3", env=imported)
    by_url = earworm(
        "similar", f"https://open.spotify.com/track/{HALO}", "--json", "--k", "3", env=imported
    )
    by_query = earworm("similar", "halo beyonce", "--json", "--k", "3", env=imported)

    assert by_id.returncode == by_url.returncode == by_query.returncode == 0
    assert json.loads(by_id.stdout) == json.loads(by_url.stdout) == json.loads(by_query.stdout)
    assert len(json.loads(by_id.stdout)) == 3


def test_genre_mode_and_the_readable_output(imported: dict[str, str]) -> None:
    genre = earworm("similar", HALO, "--mode", "genre", "--json", "--k", "20", env=imported)
    text = earworm("similar", "halo", "--k", "2", env=imported)

    tracks = json.loads(genre.stdout)
    assert tracks
    assert all("pop" in track["genres"] for track in tracks)
    assert all(track["reason"].startswith("also pop, with similar ") for track in tracks)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Tracks like Halo — Beyoncé:")
    assert " 1. " in text.stdout
    assert " 2. " in text.stdout
    assert "https://open.spotify.com/track/" in text.stdout


def test_the_fitted_model_is_cached_per_catalog_version(
    env: dict[str, str], catalog_csv: Path, tmp_path: Path
) -> None:
    imported = _import(env, catalog_csv)
    assert earworm("similar", HALO, "--json", env=imported).returncode == 0
    models = Path(imported["EARWORM_DATA_DIR"]) / "models" / "content"
    (first,) = list(models.iterdir())
    stamp = (first / "manifest.json").stat().st_mtime_ns

    assert earworm("similar", HALO, "--json", env=imported).returncode == 0
    assert (first / "manifest.json").stat().st_mtime_ns == stamp  # loaded, not refitted

    extra = tmp_path / "extra.csv"
    write_csv(
        extra,
        KAGGLE_114K_HEADER,
        [kaggle_row(0, track_id(99), "New Song", "Newcomer", "pop", **_features(0, 1))],
    )
    assert earworm("catalog", "import", str(extra), env=imported).returncode == 0
    after = earworm("similar", HALO, "--json", "--k", "40", env=imported)
    assert track_id(99) in {track["id"] for track in json.loads(after.stdout)}
    assert [path.name for path in models.iterdir()] != [first.name]  # refitted, old one gone
    assert len(list(models.iterdir())) == 1


def test_mix_blends_seeds_and_leaves_them_out(imported: dict[str, str]) -> None:
    seeds = [HALO, track_id(3), track_id(4)]

    result = earworm("mix", *seeds, "--json", "--k", "8", env=imported)

    assert result.returncode == 0, result.stderr
    tracks = json.loads(result.stdout)
    assert len(tracks) == 8
    assert {t["id"] for t in tracks}.isdisjoint([*seeds, HALO_LIVE])
    assert all({"id", "name", "artists", "score", "reason"} <= set(t) for t in tracks)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("similar", "zzqx nothing like this"), ("no track matches", "earworm search")),
        (("similar", "0" * 22), ("no track matches",)),
        (("similar", HALO, "--k", "0"), ("--k must be between 1 and 100",)),
        (("similar", HALO, "--k", "1000000"), ("--k must be between 1 and 100",)),
        (("mix", *(track_id(n) for n in range(2, 8))), ("a mix takes 1 to 5 tracks, got 6",)),
        (("mix",), ("a mix takes 1 to 5 tracks, got 0",)),
        (("mix", HALO, "zzqx nothing"), ("no track matches 'zzqx nothing'",)),
    ],
)
def test_bad_requests_are_one_clear_line(
    imported: dict[str, str], args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_one_line_error(earworm(*args, env=imported), *fragments)


def test_an_empty_catalog_says_what_to_do(env: dict[str, str]) -> None:
    for args in (("similar", "halo"), ("mix", "halo", "umbrella")):
        assert_one_line_error(
            earworm(*args, env=env), "the catalog is empty", "earworm catalog import"
        )


@pytest.mark.slow
@pytest.mark.database_neutral(
    "the content model's picks on real tracks; its import into PostgreSQL is"
    " tests/storage/test_catalog_import.py's"
)
def test_similar_on_the_real_catalog(env: dict[str, str]) -> None:
    source = require_shared(SPOTIFY_CATALOG)
    assert earworm("catalog", "import", str(source), env=env, timeout=300).returncode == 0

    # The catalog holds two "Halo" by Beyoncé and two "Bohemian Rhapsody - 2011 Mix".
    similar = earworm("similar", "halo beyonce", "--mode", "sound", "--json", env=env, timeout=300)
    genre = earworm("similar", "halo beyonce", "--mode", "genre", "--json", env=env)
    mixed = earworm(
        "mix", "halo beyonce", "blinding lights", "bohemian rhapsody", "--json", env=env
    )

    for run in (similar, genre, mixed):
        assert run.returncode == 0, run.stderr
        tracks = json.loads(run.stdout)
        assert len(tracks) == 10
        songs = {(t["name"].split(" - ")[0].casefold(), t["artists"][0]) for t in tracks}
        assert ("halo", "Beyoncé") not in songs
        assert ("bohemian rhapsody", "Queen") not in songs
        assert max(Counter(track["artists"][0] for track in tracks).values()) <= 2
        assert all(track["reason"] for track in tracks)
    assert all(" to Halo by Beyoncé" in track["reason"] for track in json.loads(similar.stdout))


async def test_the_catalog_version_changes_when_an_import_changes_something(
    database: Database, catalog_csv: Path, tmp_path: Path
) -> None:
    async def version() -> CatalogVersion:
        async with database.sessions() as session:
            return await catalog_version(session)

    empty = await version()
    await import_catalog(database, [str(catalog_csv)], progress=False)
    first = await version()
    await import_catalog(database, [str(catalog_csv)], progress=False)  # all unchanged
    unchanged = await version()
    another_genre = write_csv(
        tmp_path / "genre.csv",
        KAGGLE_114K_HEADER,
        [kaggle_row(0, HALO, "Halo", "Beyoncé", "soul", **_features(0, 0))],
    )
    await import_catalog(database, [str(another_genre)], progress=False)
    regenred = await version()

    assert (empty.tracks, empty.last_updated) == (0, None)
    assert first.tracks == 42
    assert unchanged.fingerprint == first.fingerprint
    assert regenred.tracks == first.tracks
    assert len({empty.fingerprint, first.fingerprint, regenred.fingerprint}) == 3


# --- similar-bench --------------------------------------------------------------------------


def test_the_scaled_catalog_copies_tracks_as_other_songs_near_the_original() -> None:
    catalog = tiny_catalog()
    scaled = scale_catalog(catalog, 3, seed=1)

    assert len(scaled) == 90
    assert len(set(scaled.ids.tolist())) == 90
    assert scaled.ids[:30].tolist() == catalog.ids.tolist()
    np.testing.assert_array_equal(scaled.features[:30], catalog.features)
    copies = scaled.features[30:60]
    assert not np.array_equal(copies, catalog.features)
    spread = catalog.features.std(axis=0)
    assert (np.abs(copies - catalog.features) <= 5 * JITTER * spread + 1e-12).all()
    assert (copies >= catalog.features.min(axis=0)).all()
    assert scaled.artists[30:60] == catalog.artists
    assert scaled.genres[60:] == catalog.genres
    keys = {song_key(scaled, index) for index in range(len(scaled))}
    assert len(keys) == 90  # copies are other songs, not versions the rules would drop


def test_the_bench_reports_every_figure() -> None:
    report = run_content_bench(tiny_catalog(), queries=12, scale=2, seed=0, genre_weights=(2.0,))

    assert report["queries"] == 12
    for size in (report["catalog"], report["scaled"]):
        assert set(size["latency"]) == {"normal", "genre"}
        assert size["latency"]["normal"]["queries"] == 12
        brute, *probes = size["cluster_index"]
        assert brute["probe"] == 0
        assert brute["recall_at_10"] == 1.0
        assert brute["scanned"] == 1.0
        assert all(0 < probe["scanned"] < 1 for probe in probes)
    assert report["scaled"]["tracks"] == 60
    precision = report["genre_precision_at_10"]
    assert set(precision) == {
        "genre excluded",
        "genre included (weight 2)",
        "genre mode (filter)",
    }
    assert precision["genre mode (filter)"] == 1.0
    assert precision["genre included (weight 2)"] >= precision["genre excluded"]


def test_similar_bench_command(
    imported: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "figures.json"
    result = earworm(
        *("bench", "similar", "--queries", "10", "--scale", "2", "--no-cli"),
        *("--json", str(out)),
        env=imported,
    )
    text = earworm("bench", "similar", "--queries", "5", "--scale", "1", "--no-cli", env=imported)

    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["catalog"]["tracks"] == 42
    assert report["scaled"]["tracks"] == 84
    assert text.returncode == 0, text.stderr
    assert "similar, one query at a time" in text.stdout
    assert "genre-precision@10" in text.stdout
    assert_one_line_error(earworm("bench", "similar", env=env), "the catalog is empty")
