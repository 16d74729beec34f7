"""Evaluation data: the built-in public datasets and user-supplied CSV files.

Built-in (read from the shared data folder, never copied into the repository):

- `lastfm-hetrec2k`: HetRec 2011 Last.fm 2K, 1,892 users x 17,632 artists, weight = play
  count, no timestamps. No catalog: artists have no audio features.
- `spotify-playlists`: TidyTuesday 2020 `spotify_songs` (one row per playlist and track),
  as playlist continuation: a "user" is a playlist, an item a track, weight 1. The catalog
  holds the distinct tracks with their 11 audio features and, as genres, the union of the
  `playlist_genre` and `playlist_subgenre` of every playlist the track is in.

CSV files have a header with `user,item[,weight][,timestamp]` (any order, extra columns
ignored); ids are read as text, so `007` stays `007`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data import Interactions, ItemCatalog

# The audio features every catalog format carries, in the catalog's order.
AUDIO_FEATURES = (
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
)
LASTFM = "lastfm-hetrec2k"
SPOTIFY_PLAYLISTS = "spotify-playlists"


class DatasetError(ValueError):
    """Data that cannot be evaluated on; the message names the file and what is wrong."""


@dataclass(frozen=True)
class EvaluationDataset:
    """Interactions, the catalog when there is one, and the genres of each user when the
    catalog's genres come from users (a playlist's genre labels its tracks)."""

    name: str
    interactions: Interactions
    catalog: ItemCatalog | None = None
    user_genres: Mapping[str, tuple[str, ...]] | None = None

    def catalog_for(self, train: Interactions) -> ItemCatalog | None:
        """The catalog a model may see when trained on `train`.

        Where track genres are the genres of the playlists a track is in, a held-out track
        found in one playlist only carries exactly its test playlist's genre: a model that
        filters by genre would be told the answer. So genres are rebuilt from the training
        rows: a track gets the genres of the training playlists it is in (none if it is in
        no training playlist)."""
        if self.catalog is None or self.user_genres is None:
            return self.catalog
        return genres_from_training(self.catalog, train, self.user_genres)


def genres_from_training(
    catalog: ItemCatalog, train: Interactions, user_genres: Mapping[str, tuple[str, ...]]
) -> ItemCatalog:
    """`catalog` with each item's genres = the union of the genres of its training users."""
    per_item: dict[str, set[str]] = {}
    for user, item in zip(train.users.tolist(), train.items.tolist(), strict=True):
        genres = user_genres.get(user)
        if genres:
            per_item.setdefault(item, set()).update(genres)
    genres_of_items = [tuple(sorted(per_item.get(item, ()))) for item in catalog.ids.tolist()]
    return replace(catalog, genres=genres_of_items)


def _locate(data_dir: Path, folder: str, filename: str) -> Path:
    """`data_dir/folder/filename`, or `data_dir/filename` when given the folder itself."""
    for candidate in (Path(data_dir) / folder / filename, Path(data_dir) / filename):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"{Path(data_dir) / folder / filename} not found; point --data-dir (or "
        "EARWORM_SHARED_DATA) at the shared data folder"
    )


def load_lastfm(data_dir: Path) -> EvaluationDataset:
    path = _locate(data_dir, "lastfm_hetrec2k", "user_artists.dat")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"userID": str, "artistID": str})
        weights = table["weight"].to_numpy(dtype=np.float64)
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: not a HetRec user_artists file ({exc})") from None
    interactions = Interactions(
        users=table["userID"].to_numpy(dtype=np.str_),
        items=table["artistID"].to_numpy(dtype=np.str_),
        weights=weights,
        timestamps=np.zeros(len(table), dtype=np.int64),
    )
    return EvaluationDataset(LASTFM, interactions)


def load_spotify_playlists(data_dir: Path) -> EvaluationDataset:
    path = _locate(data_dir, "spotify_catalog", "spotify_songs.zip")
    columns = ["track_id", "track_name", "track_artist", "track_popularity", "playlist_id"]
    genre_columns = ["playlist_genre", "playlist_subgenre"]
    try:
        table = pd.read_csv(path, usecols=[*columns, *genre_columns, *AUDIO_FEATURES])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: not the TidyTuesday spotify_songs file ({exc})") from None

    # A playlist listed under two genres repeats its tracks: one interaction per pair.
    pairs = table.drop_duplicates(["playlist_id", "track_id"])
    interactions = Interactions.from_rows(
        pairs["playlist_id"].astype(str).tolist(), pairs["track_id"].astype(str).tolist()
    )
    return EvaluationDataset(
        SPOTIFY_PLAYLISTS, interactions, _spotify_catalog(table), _playlist_genres(table)
    )


def _genre_labels(table: pd.DataFrame, key: str) -> pd.Series:
    """`key` -> sorted tuple of every playlist_genre and playlist_subgenre on its rows."""
    labels = pd.concat(
        [
            table[[key, column]].rename(columns={column: "genre"})
            for column in ("playlist_genre", "playlist_subgenre")
        ]
    )
    labels = labels.dropna().drop_duplicates()
    return labels.groupby(key)["genre"].agg(lambda values: tuple(sorted(values)))


def _playlist_genres(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    return {str(key): genres for key, genres in _genre_labels(table, "playlist_id").items()}


def _spotify_catalog(table: pd.DataFrame) -> ItemCatalog:
    tracks = table.drop_duplicates("track_id")  # features agree between a track's rows
    genres = _genre_labels(table, "track_id")
    names = tracks["track_name"].fillna("").astype(str).tolist()
    artists = [
        (str(artist),) if isinstance(artist, str) and artist else ()
        for artist in tracks["track_artist"].tolist()
    ]
    return ItemCatalog(
        ids=tracks["track_id"].astype(str).to_numpy(dtype=np.str_),
        names=names,
        artists=artists,
        genres=[genres.get(track, ()) for track in tracks["track_id"].tolist()],
        popularity=tracks["track_popularity"].to_numpy(dtype=np.float64),
        features=tracks[list(AUDIO_FEATURES)].to_numpy(dtype=np.float64),
        feature_names=AUDIO_FEATURES,
    )


LOADERS: dict[str, Callable[[Path], EvaluationDataset]] = {
    LASTFM: load_lastfm,
    SPOTIFY_PLAYLISTS: load_spotify_playlists,
}


def load_dataset(name: str, data_dir: Path) -> EvaluationDataset:
    try:
        loader = LOADERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(LOADERS)}") from None
    return loader(Path(data_dir))


# --- CSV files -------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty (expected a header user,item,...)") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: not a readable CSV file ({reason})") from None
    table.columns = [str(column).strip().lower() for column in table.columns]
    return table


def _require(path: Path, table: pd.DataFrame, needed: tuple[str, ...], shape: str) -> None:
    missing = [column for column in needed if column not in table.columns]
    if missing:
        found = ", ".join(table.columns) or "nothing"
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)} (need {shape}; found {found})"
        )
    if table.empty:
        raise DatasetError(f"{path}: no rows after the header")
    for column in ("user", "item"):
        blank = table[column].str.strip() == ""
        if blank.any():
            line = int(np.flatnonzero(blank.to_numpy())[0]) + 2
            raise DatasetError(f"{path}: line {line}: empty {column}")


def _numbers(path: Path, table: pd.DataFrame, column: str) -> np.ndarray:
    text = table[column].str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{path}: line {first + 2}: {column} {text.iloc[first]!r} is not a finite number"
        )
    return values


def read_interactions_csv(path: Path) -> Interactions:
    """`user,item[,weight][,timestamp]` rows; weight 1 and time 0 when the column is absent.

    Weights must be finite numbers; timestamps whole Unix seconds."""
    path = Path(path)
    table = _read_table(path)
    _require(path, table, ("user", "item"), "user,item[,weight][,timestamp]")
    count = len(table)
    weights = _numbers(path, table, "weight") if "weight" in table.columns else np.ones(count)
    timestamps = np.zeros(count, dtype=np.int64)
    if "timestamp" in table.columns:
        times = _numbers(path, table, "timestamp")
        fractional = times != np.floor(times)
        if fractional.any():
            line = int(np.flatnonzero(fractional)[0]) + 2
            raise DatasetError(f"{path}: line {line}: timestamp must be whole Unix seconds")
        timestamps = times.astype(np.int64)
    return Interactions(
        users=table["user"].str.strip().to_numpy(dtype=np.str_),
        items=table["item"].str.strip().to_numpy(dtype=np.str_),
        weights=weights,
        timestamps=timestamps,
    )


def read_pairs_csv(path: Path) -> Interactions:
    """`user,item` rows (e.g. sampled negatives); other columns are ignored."""
    path = Path(path)
    table = _read_table(path)
    _require(path, table, ("user", "item"), "user,item")
    return Interactions.from_rows(
        table["user"].str.strip().tolist(), table["item"].str.strip().tolist()
    )
