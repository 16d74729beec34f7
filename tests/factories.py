"""Tiny hand-written catalog files in each known format, for unit tests."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KAGGLE_114K_HEADER = [
    "",
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
]
TIDY_HEADER = [
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "track_album_id",
    "track_album_name",
    "track_album_release_date",
    "playlist_name",
    "playlist_id",
    "playlist_genre",
    "playlist_subgenre",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
]
SEED_600K_HEADER = [
    "id",
    "name",
    "popularity",
    "duration_ms",
    "explicit",
    "artists",
    "id_artists",
    "release_date",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
]
FEATURES = {
    "danceability": "0.5",
    "energy": "0.7",
    "key": "5",
    "loudness": "-6.5",
    "mode": "1",
    "speechiness": "0.05",
    "acousticness": "0.1",
    "instrumentalness": "0",
    "liveness": "0.12",
    "valence": "0.6",
    "tempo": "120.0",
}


def track_id(n: int) -> str:
    """A valid 22-character base62 id, distinct for each n."""
    return f"Trk{n:019d}"


def kaggle_row(index: int, tid: str, name: str, artists: str, genre: str, **over: str) -> list[str]:
    values = {
        "": str(index),
        "track_id": tid,
        "artists": artists,
        "album_name": f"{name} (Album)",
        "track_name": name,
        "popularity": "50",
        "duration_ms": "200000",
        "explicit": "False",
        "time_signature": "4",
        "track_genre": genre,
        **FEATURES,
    }
    values.update(over)
    return [values[column] for column in KAGGLE_114K_HEADER]


def tidy_row(tid: str, name: str, artist: str, genre: str, subgenre: str, **over: str) -> list[str]:
    values = {
        "track_id": tid,
        "track_name": name,
        "track_artist": artist,
        "track_popularity": "40",
        "track_album_id": track_id(9999),
        "track_album_name": f"{name} (Album)",
        "track_album_release_date": "2019-06-14",
        "playlist_name": "Mix",
        "playlist_id": "37i9dQZF1DXcZDD7cfEKhW",
        "playlist_genre": genre,
        "playlist_subgenre": subgenre,
        "duration_ms": "180000",
        **FEATURES,
    }
    values.update(over)
    return [values[column] for column in TIDY_HEADER]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    path.write_text(csv_text(header, rows), encoding="utf-8")
    return path


def write_gzip(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    path.write_bytes(gzip.compress(csv_text(header, rows).encode()))
    return path


def write_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


async def import_tracks(
    database: Any, directory: Path, tracks: Sequence[tuple[str, str, str, str]]
) -> None:
    """Import (name, artists, genre, popularity) rows, track i getting `track_id(i)`,
    through the real catalog importer."""
    from storage.catalog.importer import import_catalog

    rows = [
        kaggle_row(i, track_id(i), name, artists, genre, popularity=popularity)
        for i, (name, artists, genre, popularity) in enumerate(tracks)
    ]
    await import_catalog(
        database, [str(write_csv(directory / "catalog.csv", KAGGLE_114K_HEADER, rows))]
    )
