"""Interaction snapshots: the catalog, every feedback row and every member's plays, frozen in
one file.

Training reads a snapshot, never the live database: a run sees exactly the feedback that
existed when it started (reactions arriving meanwhile wait for the next run), it can run in
another process or on another machine, and a failed run can be repeated on the same data.

The public playlists the catalog came from (storage.repositories.playlists) travel with it:
the nightly run learns artist relations from them as well as from members' likes and plays.
Playlists and release dates are optional like plays: an older snapshot reads without them.

Plays are stored per (member, track), aggregated by the database (plays heard, short skips,
milliseconds, last time: see storage.repositories.plays), which is what training turns
into weights (recommender.plays) and far smaller than one row per play. Their arrays are
optional: a snapshot written before plays existed reads with none.

The file is a numpy `.npz` (no pickles): column arrays plus a JSON header. It is written to
a temporary sibling, flushed to disk and renamed into place, so a reader sees either the
whole snapshot or none; a full disk or any other failure leaves no file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import StorageError
from storage.models import AUDIO_FEATURES
from storage.repositories.playlists import PlaylistRows, playlist_rows
from storage.repositories.plays import play_aggregates
from storage.repositories.snapshots import CatalogRows, catalog_rows, feedback_rows

FORMAT = "earworm-snapshot"
FORMAT_VERSION = 1
_FEEDBACK_COLUMNS = ("feedback_id", "user", "track", "kind", "value", "created")
_CATALOG_COLUMNS = ("track_id", "name", "artists", "genres", "popularity")
_PLAY_COLUMNS = ("play_user", "play_track", "play_plays", "play_skips", "play_ms", "play_last")
_PLAYLIST_COLUMNS = ("playlist_track", "playlist_id")


class SnapshotError(StorageError):
    """A snapshot file is missing, damaged or of another format; the message says which."""


@dataclass(frozen=True)
class PlaySnapshot:
    """Every member's plays per track, ordered by (user, track): `plays` heard (30 s or more,
    or of unknown length), `skips` (shorter and skipped), `total_ms` of the plays whose
    length is known, `last_played` in Unix seconds (UTC)."""

    users: npt.NDArray[np.int64]
    tracks: npt.NDArray[np.str_]
    plays: npt.NDArray[np.int64]
    skips: npt.NDArray[np.int64]
    total_ms: npt.NDArray[np.int64]
    last_played: npt.NDArray[np.int64]

    @classmethod
    def empty(cls) -> PlaySnapshot:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, np.zeros(0, dtype=np.str_), none, none, none, none)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Snapshot:
    """One snapshot, column-wise. Feedback rows are in arrival (id) order; `values` is NaN
    where a row has no value and `created` is Unix seconds (UTC)."""

    header: dict[str, Any]
    catalog: CatalogRows
    feedback_ids: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    tracks: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    values: npt.NDArray[np.float64]
    created: npt.NDArray[np.int64]
    plays: PlaySnapshot = field(default_factory=PlaySnapshot.empty)
    playlists: PlaylistRows = field(default_factory=lambda: PlaylistRows([], []))

    def __len__(self) -> int:
        return len(self.feedback_ids)

    @property
    def max_feedback_id(self) -> int:
        """The newest feedback row it holds (0 when none): later rows are new to it."""
        return int(self.header["max_feedback_id"])

    @property
    def max_play_id(self) -> int:
        """The newest play it holds (0 when none, or a snapshot from before plays)."""
        return int(self.header.get("max_play_id", 0))


async def write_snapshot(session: AsyncSession, path: Path) -> dict[str, Any]:
    """Read the catalog, all feedback and all plays in one transaction and write them to
    `path`.

    Returns the header. Raises OSError when the file cannot be written (nothing is left)."""
    catalog = await catalog_rows(session)
    feedback = await feedback_rows(session)
    plays = await play_aggregates(session)
    playlists = await playlist_rows(session)
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "feedback_rows": len(feedback),
        "max_feedback_id": max(feedback.ids, default=0),
        "tracks": len(catalog),
        "play_pairs": len(plays),
        "play_rows": plays.rows,
        "max_play_id": plays.max_play_id,
        "playlist_rows": len(playlists),
    }
    arrays: dict[str, npt.NDArray[Any]] = {
        "header": np.asarray(json.dumps(header)),
        "feedback_id": np.asarray(feedback.ids, dtype=np.int64),
        "user": np.asarray(feedback.users, dtype=np.int64),
        "track": np.asarray(feedback.tracks, dtype=np.str_),
        "kind": np.asarray(feedback.kinds, dtype=np.str_),
        "value": np.asarray(
            [np.nan if value is None else value for value in feedback.values], dtype=np.float64
        ),
        "created": np.asarray(
            [int(created.timestamp()) for created in feedback.created_at], dtype=np.int64
        ),
        "track_id": np.asarray(catalog.ids, dtype=np.str_),
        "name": np.asarray(catalog.names, dtype=np.str_),
        # Artists and genres are lists per track: one JSON text each keeps the file pickle-free.
        "artists": np.asarray([json.dumps(a) for a in catalog.artists], dtype=np.str_),
        "genres": np.asarray([json.dumps(g) for g in catalog.genres], dtype=np.str_),
        "popularity": np.asarray(
            [-1 if p is None else p for p in catalog.popularity], dtype=np.int64
        ),
        "release_date": np.asarray([d or "" for d in catalog.release_dates], dtype=np.str_),
        "playlist_track": np.asarray(playlists.tracks, dtype=np.str_),
        "playlist_id": np.asarray(playlists.playlists, dtype=np.str_),
        "play_user": np.asarray(plays.users, dtype=np.int64),
        "play_track": np.asarray(plays.tracks, dtype=np.str_),
        "play_plays": np.asarray(plays.plays, dtype=np.int64),
        "play_skips": np.asarray(plays.skips, dtype=np.int64),
        "play_ms": np.asarray(plays.total_ms, dtype=np.int64),
        "play_last": np.asarray(plays.last_played, dtype=np.int64),
    }
    for name in AUDIO_FEATURES:
        arrays[f"feature_{name}"] = np.asarray(
            [np.nan if v is None else v for v in catalog.features[name]], dtype=np.float64
        )
    _write_atomically(Path(path), arrays)
    return header


def _write_atomically(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def read_snapshot(path: Path) -> Snapshot:
    """The snapshot at `path`, or SnapshotError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"{path}: no snapshot file here")
    try:
        with np.load(path, allow_pickle=False) as data:
            columns = {name: data[name] for name in data.files}
        header = json.loads(str(columns["header"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise SnapshotError(f"{path}: unreadable snapshot ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not an Earworm snapshot")
    if header.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(
            f"{path}: snapshot format {header.get('format_version')!r} is not supported "
            f"(this version reads format {FORMAT_VERSION}); take a new snapshot"
        )
    needed = {*_FEEDBACK_COLUMNS, *_CATALOG_COLUMNS, *(f"feature_{n}" for n in AUDIO_FEATURES)}
    missing = needed - set(columns)
    if missing:
        raise SnapshotError(f"{path}: snapshot columns missing: {', '.join(sorted(missing))}")
    rows = {len(columns[name]) for name in _FEEDBACK_COLUMNS}
    tracks = {len(columns[name]) for name in needed - set(_FEEDBACK_COLUMNS)}
    if len(rows) != 1 or len(tracks) != 1 or rows != {header.get("feedback_rows")}:
        raise SnapshotError(f"{path}: snapshot columns disagree in length (truncated?)")
    plays = _read_plays(path, header, columns)
    playlists = _read_playlists(path, header, columns)
    dates = columns.get("release_date")
    if dates is not None and len(dates) != len(columns["track_id"]):
        raise SnapshotError(f"{path}: snapshot columns disagree in length (truncated?)")
    catalog = CatalogRows(
        ids=columns["track_id"].tolist(),
        names=columns["name"].tolist(),
        artists=[tuple(json.loads(text)) for text in columns["artists"].tolist()],
        genres=[tuple(json.loads(text)) for text in columns["genres"].tolist()],
        popularity=[None if p < 0 else int(p) for p in columns["popularity"].tolist()],
        features={
            name: [None if np.isnan(v) else float(v) for v in columns[f"feature_{name}"]]
            for name in AUDIO_FEATURES
        },
        release_dates=[] if dates is None else [d or None for d in dates.tolist()],
    )
    return Snapshot(
        header=header,
        catalog=catalog,
        feedback_ids=columns["feedback_id"].astype(np.int64),
        users=columns["user"].astype(np.int64),
        tracks=columns["track"].astype(np.str_),
        kinds=columns["kind"].astype(np.str_),
        values=columns["value"].astype(np.float64),
        created=columns["created"].astype(np.int64),
        plays=plays,
        playlists=playlists,
    )


def _read_playlists(
    path: Path, header: dict[str, Any], columns: dict[str, npt.NDArray[Any]]
) -> PlaylistRows:
    present = [name for name in _PLAYLIST_COLUMNS if name in columns]
    if not present:
        return PlaylistRows([], [])  # written before playlists were kept
    if len(present) != len(_PLAYLIST_COLUMNS):
        missing = sorted(set(_PLAYLIST_COLUMNS) - set(present))
        raise SnapshotError(f"{path}: snapshot columns missing: {', '.join(missing)}")
    if {len(columns[name]) for name in _PLAYLIST_COLUMNS} != {header.get("playlist_rows")}:
        raise SnapshotError(f"{path}: snapshot columns disagree in length (truncated?)")
    return PlaylistRows(columns["playlist_track"].tolist(), columns["playlist_id"].tolist())


def _read_plays(
    path: Path, header: dict[str, Any], columns: dict[str, npt.NDArray[Any]]
) -> PlaySnapshot:
    present = [name for name in _PLAY_COLUMNS if name in columns]
    if not present:
        return PlaySnapshot.empty()  # written before plays existed
    if len(present) != len(_PLAY_COLUMNS):
        missing = sorted(set(_PLAY_COLUMNS) - set(present))
        raise SnapshotError(f"{path}: snapshot columns missing: {', '.join(missing)}")
    if {len(columns[name]) for name in _PLAY_COLUMNS} != {header.get("play_pairs")}:
        raise SnapshotError(f"{path}: snapshot columns disagree in length (truncated?)")
    return PlaySnapshot(
        users=columns["play_user"].astype(np.int64),
        tracks=columns["play_track"].astype(np.str_),
        plays=columns["play_plays"].astype(np.int64),
        skips=columns["play_skips"].astype(np.int64),
        total_ms=columns["play_ms"].astype(np.int64),
        last_played=columns["play_last"].astype(np.int64),
    )
