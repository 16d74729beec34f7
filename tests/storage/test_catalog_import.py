"""Catalog import: formats, merging, idempotency, row-level skips and file-level failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.errors import CatalogImportError
from storage.models import Artist, Genre, Track, TrackArtist, TrackGenre
from storage.repositories.tracks import catalog_stats
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import (
    KAGGLE_114K_HEADER,
    SEED_600K_HEADER,
    TIDY_HEADER,
    csv_text,
    kaggle_row,
    tidy_row,
    track_id,
    write_csv,
    write_gzip,
    write_zip,
)


async def _count(database: Database, model: type) -> int:
    async with database.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def _genres_of(database: Database, tid: str) -> set[str]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(Genre.name)
            .join(TrackGenre, TrackGenre.genre_id == Genre.id)
            .where(TrackGenre.track_id == tid)
        )
        return set(rows.scalars())


async def _track(database: Database, tid: str) -> Track | None:
    async with database.sessions() as session:
        return await session.get(Track, tid)


async def test_kaggle_format_merges_genres_and_splits_artists(
    database: Database, tmp_path: Path
) -> None:
    rows = [
        kaggle_row(0, track_id(1), "Shared Song", "Artist A;Artist B", "pop"),
        kaggle_row(1, track_id(1), "Shared Song", "Artist A;Artist B", "dance"),
        kaggle_row(2, track_id(2), "Solo Song", "Artist A", "pop", explicit="True"),
    ]
    source = write_csv(tmp_path / "dataset.csv", KAGGLE_114K_HEADER, rows)

    summary = await import_catalog(database, [str(source)])

    assert summary.formats == ["kaggle-tracks-114k"]
    assert (summary.rows_read, summary.tracks_in_file, summary.tracks_inserted) == (3, 2, 2)
    assert await _genres_of(database, track_id(1)) == {"pop", "dance"}
    shared = await _track(database, track_id(1))
    assert shared is not None
    assert json.loads(shared.artist_names) == ["Artist A", "Artist B"]
    solo = await _track(database, track_id(2))
    assert solo is not None
    assert solo.explicit is True
    assert (solo.time_signature, solo.key, solo.tempo) == (4, 5, 120.0)
    assert await _count(database, Artist) == 2  # "Artist A" is one artist on both tracks
    assert await _count(database, TrackArtist) == 3


async def test_reimport_is_idempotent_and_reports_updates(
    database: Database, tmp_path: Path
) -> None:
    rows = [kaggle_row(i, track_id(i), f"Song {i}", "Band", "rock") for i in range(5)]
    source = write_csv(tmp_path / "a.csv", KAGGLE_114K_HEADER, rows)
    await import_catalog(database, [str(source)])

    again = await import_catalog(database, [str(source)])
    assert (again.tracks_inserted, again.tracks_updated, again.tracks_unchanged) == (0, 0, 5)
    assert await _count(database, Track) == 5

    rows[0] = kaggle_row(0, track_id(0), "Song 0 (Remastered)", "Band", "rock", popularity="77")
    rows[1] = kaggle_row(1, track_id(1), "Song 1", "Band", "metal")  # a new genre only
    write_csv(tmp_path / "a.csv", KAGGLE_114K_HEADER, rows)
    changed = await import_catalog(database, [str(source)])
    assert (changed.tracks_inserted, changed.tracks_updated, changed.tracks_unchanged) == (0, 2, 3)
    renamed = await _track(database, track_id(0))
    assert renamed is not None
    assert (renamed.name, renamed.popularity) == ("Song 0 (Remastered)", 77)
    assert await _genres_of(database, track_id(1)) == {"rock", "metal"}


async def test_a_source_without_a_column_keeps_known_values(
    database: Database, tmp_path: Path
) -> None:
    kaggle = write_csv(
        tmp_path / "k.csv",
        KAGGLE_114K_HEADER,
        [kaggle_row(0, track_id(7), "Song", "Band", "pop", time_signature="3")],
    )
    tidy = write_csv(
        tmp_path / "t.csv", TIDY_HEADER, [tidy_row(track_id(7), "Song", "Band", "pop", "indie")]
    )
    await import_catalog(database, [str(kaggle)])
    await import_catalog(database, [str(tidy)])  # TidyTuesday has no time_signature column
    track = await _track(database, track_id(7))
    assert track is not None
    assert track.time_signature == 3
    assert track.release_date == "2019-06-14"
    assert await _genres_of(database, track_id(7)) == {"pop", "indie"}


async def test_seed_600k_format_reads_list_literals(database: Database, tmp_path: Path) -> None:
    row = {
        "id": track_id(3),
        "name": "Sweet Child",
        "popularity": "80",
        "duration_ms": "356067",
        "explicit": "0",
        "artists": "[\"Guns N' Roses\", 'Slash']",
        "id_artists": "['3qm84nBOXUEQ2vnTfUTTFC', '0kkLYpNh1bVvTATvo2hWay']",
        "release_date": "1987-07-21",
        "time_signature": "4",
        **{k: v for k, v in kaggle_features().items()},
    }
    source = write_csv(
        tmp_path / "tracks.csv", SEED_600K_HEADER, [[row[c] for c in SEED_600K_HEADER]]
    )
    summary = await import_catalog(database, [str(source)])
    assert summary.formats == ["kaggle-tracks-600k"]
    track = await _track(database, track_id(3))
    assert track is not None
    assert json.loads(track.artist_names) == ["Guns N' Roses", "Slash"]
    async with database.sessions() as session:
        ids = set((await session.execute(select(Artist.spotify_id))).scalars())
    assert ids == {"3qm84nBOXUEQ2vnTfUTTFC", "0kkLYpNh1bVvTATvo2hWay"}


def kaggle_features() -> dict[str, str]:
    from tests.factories import FEATURES

    return dict(FEATURES)


async def test_bad_rows_are_skipped_by_reason_and_good_rows_import(
    database: Database, tmp_path: Path
) -> None:
    good = kaggle_row(0, track_id(0), "Good", "Band", "pop")
    bad = [
        kaggle_row(1, "short-id", "Bad id", "Band", "pop"),
        kaggle_row(2, "", "Empty id", "Band", "pop"),
        kaggle_row(3, track_id(3), "NA", "Band", "pop"),
        kaggle_row(4, track_id(4), "No artist", "NA", "pop"),
        kaggle_row(5, track_id(5), "Dance 7", "Band", "pop", danceability="7"),
        kaggle_row(6, track_id(6), "Tempo -1", "Band", "pop", tempo="-1"),
        kaggle_row(7, track_id(7), "Energy x", "Band", "pop", energy="loud"),
        kaggle_row(
            8,
            track_id(8),
            "No features",
            "Band",
            "pop",
            **{name: "" for name in kaggle_features()},
        ),
        kaggle_row(9, track_id(9), "Key 12", "Band", "pop", key="12"),
        kaggle_row(10, track_id(10), "Pop 101", "Band", "pop", popularity="101"),
        [*kaggle_row(11, track_id(11), "Too many cells", "Band", "pop"), "extra"],
    ]
    source = write_csv(tmp_path / "mixed.csv", KAGGLE_114K_HEADER, [good, *bad])

    summary = await import_catalog(database, [str(source)])

    assert summary.tracks_inserted == 1
    assert summary.rows_read == 12
    assert summary.rows_skipped == {
        "invalid_track_id": 2,
        "missing_name": 1,
        "missing_artists": 1,
        "invalid_danceability": 1,
        "invalid_tempo": 1,
        "invalid_energy": 1,
        "no_audio_features": 1,
        "invalid_key": 1,
        "invalid_popularity": 1,
        "malformed_row": 1,
    }
    assert await _count(database, Track) == 1


async def test_gzip_zip_and_folder_sources(database: Database, tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    write_gzip(
        folder / "a.csv.gz", KAGGLE_114K_HEADER, [kaggle_row(0, track_id(0), "Gz", "A", "pop")]
    )
    write_zip(
        folder / "b.zip",
        {
            "songs/b.csv": csv_text(
                TIDY_HEADER, [tidy_row(track_id(1), "Zipped", "B", "rap", "trap")]
            ),
            "__MACOSX/songs/._b.csv": "junk",
        },
    )
    (folder / "notes.txt").write_text("not a catalog")  # ignored: not .csv/.gz/.zip

    summary = await import_catalog(database, [str(folder)])

    assert sorted(summary.formats) == ["kaggle-tracks-114k", "tidytuesday-spotify-songs"]
    assert summary.tracks_inserted == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00", "not a CSV, gzip or zip"),
        (b"\x1f\x8b\x08\x00broken-gzip", "truncated or corrupt"),
        (b"PK\x03\x04broken-zip", "truncated or corrupt"),
        (b"\xff\xfe\xfa not utf8 \xff,\xfe\n1,2\n", "not UTF-8"),
        (b"name,artist,year\nSong,Band,1999\n", "lacks:"),
    ],
)
async def test_file_level_problems_stop_with_one_message_and_write_nothing(
    database: Database, tmp_path: Path, content: bytes, message: str
) -> None:
    good = write_csv(
        tmp_path / "good.csv", KAGGLE_114K_HEADER, [kaggle_row(0, track_id(0), "Ok", "A", "pop")]
    )
    broken = tmp_path / "broken.csv"
    broken.write_bytes(content)

    with pytest.raises(CatalogImportError, match=message):
        await import_catalog(database, [str(good), str(broken)])
    assert await _count(database, Track) == 0


async def test_truncated_gzip_of_a_real_header_is_rejected(
    database: Database, tmp_path: Path
) -> None:
    rows = [kaggle_row(i, track_id(i), f"Song {i}", "A", "pop") for i in range(2000)]
    full = write_gzip(tmp_path / "full.csv.gz", KAGGLE_114K_HEADER, rows).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(CatalogImportError, match="truncated or corrupt"):
        await import_catalog(database, [str(cut)])
    assert await _count(database, Track) == 0


async def test_unknown_header_lists_missing_columns(database: Database, tmp_path: Path) -> None:
    header = [c for c in KAGGLE_114K_HEADER if c not in {"tempo", "valence"}]
    source = tmp_path / "nearly.csv"
    source.write_text(",".join(header) + "\n")
    with pytest.raises(CatalogImportError, match=r"lacks: tempo, valence"):
        await import_catalog(database, [str(source)])


async def test_missing_file_and_folder_errors(database: Database, tmp_path: Path) -> None:
    with pytest.raises(CatalogImportError, match="no such file"):
        await import_catalog(database, [str(tmp_path / "nope.csv")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogImportError, match="holds no"):
        await import_catalog(database, [str(tmp_path / "empty")])


@pytest.mark.slow
async def test_real_spotify_catalog_folder(database: Database) -> None:
    folder = require_shared(SPOTIFY_CATALOG)
    summary = await import_catalog(database, [str(folder)])
    # Counts documented in shared/data/README.md: 32,332 distinct ids over the three files;
    # five TidyTuesday rows (four ids) have NA names and one 2024 row has no audio features.
    assert summary.rows_read == 1686 + 3145 + 32833
    assert summary.rows_skipped == {"missing_name": 5, "no_audio_features": 1}
    assert summary.tracks_in_file == summary.tracks_inserted
    async with database.sessions() as session:
        stats = await catalog_stats(session)
    assert stats.tracks == 32_332 - 4 - 1
    assert stats.genres > 100  # playlist genres and subgenres of both datasets
    track = await _track(database, "2plbrEY59IikOBgBGLjaoe")  # Die With A Smile
    assert track is not None
    assert json.loads(track.artist_names) == ["Lady Gaga", "Bruno Mars"]
