"""Known catalog formats, detected from the header, and row parsing with skip reasons."""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from storage.errors import CatalogImportError

TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")
RELEASE_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
# The public playlists a row was taken from (Spotify playlist ids, 22 characters today).
PLAYLIST_ID = re.compile(r"[0-9A-Za-z]{1,64}")
# readr writes missing values as NA, pandas as an empty cell.
MISSING = {"", "na"}
MAX_NAME = 1024
MAX_ARTIST = 512

# (low, high, integral) per audio feature; Spotify's documented ranges, loudness with slack.
FEATURE_RANGES: dict[str, tuple[float, float, bool]] = {
    "danceability": (0.0, 1.0, False),
    "energy": (0.0, 1.0, False),
    "key": (-1, 11, True),
    "loudness": (-60.0, 5.0, False),
    "mode": (0, 1, True),
    "speechiness": (0.0, 1.0, False),
    "acousticness": (0.0, 1.0, False),
    "instrumentalness": (0.0, 1.0, False),
    "liveness": (0.0, 1.0, False),
    "valence": (0.0, 1.0, False),
    "tempo": (0.0, 300.0, False),
}
TIME_SIGNATURE_RANGE = (0, 7)
CORE_FEATURES = tuple(FEATURE_RANGES)


class SkipRow(Exception):
    """A row that cannot become a track; `reason` is the key it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _single_artist(cell: str) -> list[str]:
    return [cell]


def _semicolon_artists(cell: str) -> list[str]:
    return cell.split(";")


# Artists whose own name holds ", ": the 2024 files join collaborators with ", " too.
COMMA_NAMED_ARTISTS = frozenset(
    name.casefold()
    for name in (
        "Tyler, The Creator",
        "Earth, Wind & Fire",
        "Crosby, Stills, Nash & Young",
        "Crosby, Stills & Nash",
        "Emerson, Lake & Palmer",
        "Blood, Sweat & Tears",
        "Peter, Paul and Mary",
        "Now, Now",
    )
)


def _comma_artists(cell: str) -> list[str]:
    parts = cell.split(", ")
    names: list[str] = []
    index = 0
    while index < len(parts):
        # Take the longest run of parts that spells a known comma-named artist.
        for end in range(len(parts), index + 1, -1):
            joined = ", ".join(parts[index:end])
            if joined.casefold() in COMMA_NAMED_ARTISTS:
                names.append(joined)
                index = end
                break
        else:
            names.append(parts[index])
            index += 1
    return names


def _list_literal(cell: str) -> list[str]:
    # The 600k tracks.csv writes Python lists: "['A', \"Guns N' Roses\"]".
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise SkipRow("malformed_artists") from None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SkipRow("malformed_artists")
    return list(value)


@dataclass(frozen=True, slots=True)
class CatalogFormat:
    """How one public dataset names its columns. `columns` maps our field to theirs."""

    name: str
    title: str
    columns: Mapping[str, str]
    split_artists: Callable[[str], list[str]]
    genre_columns: tuple[str, ...] = ()
    artist_ids_column: str | None = None
    # The playlist a row comes from, kept when the file has the column (optional: a file
    # without it still matches the format).
    playlist_column: str | None = None

    @property
    def required(self) -> frozenset[str]:
        extra = (self.artist_ids_column,) if self.artist_ids_column else ()
        return frozenset(self.columns.values()) | set(self.genre_columns) | set(extra)


_FEATURE_COLUMNS = {name: name for name in CORE_FEATURES}
# The playlist-based datasets (TidyTuesday 2020 and the 2024 files) share these names.
_PLAYLIST_COLUMNS = {
    "id": "track_id",
    "name": "track_name",
    "album": "track_album_name",
    "album_id": "track_album_id",
    "artists": "track_artist",
    "popularity": "track_popularity",
    "duration_ms": "duration_ms",
    "release_date": "track_album_release_date",
    **_FEATURE_COLUMNS,
}

FORMATS: tuple[CatalogFormat, ...] = (
    CatalogFormat(
        name="kaggle-tracks-114k",
        title='Kaggle "Spotify Tracks Dataset" (maharshipandya)',
        columns={
            "id": "track_id",
            "name": "track_name",
            "album": "album_name",
            "artists": "artists",
            "popularity": "popularity",
            "duration_ms": "duration_ms",
            "explicit": "explicit",
            "time_signature": "time_signature",
            **_FEATURE_COLUMNS,
        },
        split_artists=_semicolon_artists,
        genre_columns=("track_genre",),
    ),
    CatalogFormat(
        name="spotify-2024",
        title='Kaggle "Spotify Music Dataset" 2024 (high/low popularity)',
        columns={**_PLAYLIST_COLUMNS, "time_signature": "time_signature"},
        split_artists=_comma_artists,
        genre_columns=("playlist_genre", "playlist_subgenre"),
        playlist_column="playlist_id",
    ),
    CatalogFormat(
        name="tidytuesday-spotify-songs",
        title="TidyTuesday 2020-01-21 spotify_songs",
        columns=_PLAYLIST_COLUMNS,
        split_artists=_single_artist,
        genre_columns=("playlist_genre", "playlist_subgenre"),
        playlist_column="playlist_id",
    ),
    CatalogFormat(
        name="kaggle-tracks-600k",
        title='Kaggle 600k "tracks.csv"',
        columns={
            "id": "id",
            "name": "name",
            "artists": "artists",
            "popularity": "popularity",
            "duration_ms": "duration_ms",
            "explicit": "explicit",
            "release_date": "release_date",
            "time_signature": "time_signature",
            **_FEATURE_COLUMNS,
        },
        split_artists=_list_literal,
        artist_ids_column="id_artists",
    ),
)


def detect_format(header: Sequence[str], source: str) -> CatalogFormat:
    """The most specific known format whose columns the header has, or a clear error."""
    columns = {cell.strip() for cell in header}
    matches = [fmt for fmt in FORMATS if fmt.required <= columns]
    if matches:
        return max(matches, key=lambda fmt: len(fmt.required))
    closest = min(FORMATS, key=lambda fmt: len(fmt.required - columns))
    missing = ", ".join(sorted(closest.required - columns))
    known = "; ".join(fmt.title for fmt in FORMATS)
    raise CatalogImportError(
        f"{source}: the header matches no known catalog format. Closest is {closest.title}, "
        f"which lacks: {missing}. Known formats: {known}."
    )


@dataclass(slots=True)
class ParsedTrack:
    """One valid track: its `tracks` row plus the relations stored in other tables."""

    row: dict[str, object]
    artists: list[str]
    artist_ids: list[str | None]
    genres: list[str] = field(default_factory=list)
    playlists: list[str] = field(default_factory=list)  # the public playlists it is in

    def merge(self, other: ParsedTrack) -> None:
        """The same track seen again: keep our values, fill gaps, union the genres and
        playlists."""
        for column, value in other.row.items():
            if self.row.get(column) is None and value is not None:
                self.row[column] = value
        for genre in other.genres:
            if genre not in self.genres:
                self.genres.append(genre)
        for playlist in other.playlists:
            if playlist not in self.playlists:
                self.playlists.append(playlist)


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def clean_text(cell: str, limit: int) -> str:
    return " ".join(unicodedata.normalize("NFC", cell).split())[:limit]


def artist_key(name: str) -> str:
    """Artists merge across datasets on a case- and space-folded name."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _number(cell: str, reason: str, low: float, high: float, integral: bool) -> float | int:
    try:
        value = float(cell)
    except ValueError:
        raise SkipRow(reason) from None
    if not (low <= value <= high) or (integral and not value.is_integer()):
        raise SkipRow(reason)
    return int(value) if integral else value


def _optional_number(
    cell: str | None, reason: str, low: float, high: float, integral: bool
) -> float | int | None:
    if cell is None or _is_missing(cell):
        return None
    return _number(cell.strip(), reason, low, high, integral)


def _explicit(cell: str | None) -> bool | None:
    if cell is None or _is_missing(cell):
        return None
    lowered = cell.strip().lower()
    if lowered in {"true", "1", "1.0", "yes"}:
        return True
    if lowered in {"false", "0", "0.0", "no"}:
        return False
    raise SkipRow("invalid_explicit")


class RowParser:
    """Parses the rows of one table in a known format into ParsedTrack objects."""

    def __init__(self, fmt: CatalogFormat, header: Sequence[str]) -> None:
        self.format = fmt
        self.width = len(header)
        position = {cell.strip(): index for index, cell in enumerate(header)}
        self.index = {field_: position[column] for field_, column in fmt.columns.items()}
        self.genre_index = [position[column] for column in fmt.genre_columns]
        self.artist_ids_index = position[fmt.artist_ids_column] if fmt.artist_ids_column else None
        self.playlist_index = position.get(fmt.playlist_column) if fmt.playlist_column else None

    def _cell(self, row: Sequence[str], field_: str) -> str | None:
        index = self.index.get(field_)
        return row[index] if index is not None else None

    def parse(self, row: Sequence[str]) -> ParsedTrack:
        if len(row) != self.width:
            raise SkipRow("malformed_row")
        track_id = row[self.index["id"]].strip()
        if not TRACK_ID.fullmatch(track_id):
            raise SkipRow("invalid_track_id")
        name = row[self.index["name"]]
        if _is_missing(name):
            raise SkipRow("missing_name")
        artists = self._artists(row)
        features = self._features(row)
        album = self._cell(row, "album")
        album_id = (self._cell(row, "album_id") or "").strip()
        release = (self._cell(row, "release_date") or "").strip()
        parsed_row: dict[str, object] = {
            "id": track_id,
            "name": clean_text(name, MAX_NAME),
            "album": None if album is None or _is_missing(album) else clean_text(album, MAX_NAME),
            "album_id": album_id if TRACK_ID.fullmatch(album_id) else None,
            "popularity": _optional_number(
                self._cell(row, "popularity"), "invalid_popularity", 0, 100, True
            ),
            "duration_ms": _optional_number(
                self._cell(row, "duration_ms"), "invalid_duration_ms", 1, 2**31 - 1, True
            ),
            "explicit": _explicit(self._cell(row, "explicit")),
            "release_date": release if RELEASE_DATE.fullmatch(release) else None,
            **features,
        }
        genres: list[str] = []
        for index in self.genre_index:
            genre = " ".join(row[index].lower().split())[:128]
            if genre and genre not in MISSING and genre not in genres:
                genres.append(genre)
        playlist = row[self.playlist_index].strip() if self.playlist_index is not None else ""
        return ParsedTrack(
            row=parsed_row,
            artists=artists[0],
            artist_ids=artists[1],
            genres=genres,
            # A malformed playlist id loses the row its playlist, not its track.
            playlists=[playlist]
            if PLAYLIST_ID.fullmatch(playlist) and not _is_missing(playlist)
            else [],
        )

    def _artists(self, row: Sequence[str]) -> tuple[list[str], list[str | None]]:
        cell = row[self.index["artists"]]
        if _is_missing(cell):
            raise SkipRow("missing_artists")
        names: list[str] = []
        for raw in self.format.split_artists(cell):
            name = clean_text(raw, MAX_ARTIST)
            if name and not _is_missing(name) and name not in names:
                names.append(name)
        if not names:
            raise SkipRow("missing_artists")
        ids: list[str | None] = [None] * len(names)
        if self.artist_ids_index is not None:
            try:
                raw_ids = _list_literal(row[self.artist_ids_index])
            except SkipRow:
                raw_ids = []
            if len(raw_ids) == len(names):
                ids = [i if TRACK_ID.fullmatch(i) else None for i in raw_ids]
        return names, ids

    def _features(self, row: Sequence[str]) -> dict[str, object]:
        cells = {name: row[self.index[name]].strip() for name in CORE_FEATURES}
        if all(_is_missing(cell) for cell in cells.values()):
            raise SkipRow("no_audio_features")
        features: dict[str, object] = {
            name: _number(cells[name], f"invalid_{name}", *FEATURE_RANGES[name])
            for name in CORE_FEATURES
        }
        features["time_signature"] = _optional_number(
            self._cell(row, "time_signature"), "invalid_time_signature", *TIME_SIGNATURE_RANGE, True
        )
        return features
