"""Spotify privacy exports built from real playlists, for the history import tests.

The tracks come from the TidyTuesday `spotify_songs.zip` of the shared datasets (real ids,
titles, artists, albums and lengths, grouped by playlist). A member's listening is simulated
over them and written the way Spotify writes it by the product's own generator,
storage/history/synthetic.py (`simulate_listening`, `extended_history`, `account_history`;
`earworm simulate --history` uses it too). Here, beside it:

- `export_zip(listens)`: a zip laid out like Spotify's download (both histories in their
  folders, plus files that are not history: user data, playlists, a read-me).

`tracks_csv(tracks)` gives the tracks' own rows of the dataset, so a test can import exactly
the part of the catalog it wants (and leave the rest outside it).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storage.history.synthetic import (
    MIN_PLAYED_MS,
    Listen,
    account_history,
    extended_history,
    simulate_listening,
)

__all__ = [
    "MIN_PLAYED_MS",
    "Listen",
    "PlaylistTrack",
    "Playlists",
    "account_history",
    "export_zip",
    "extended_history",
    "read_playlists",
    "simulate_listening",
    "tracks_csv",
]

SONGS = "spotify_songs.zip"
EXTENDED_DIR = "Spotify Extended Streaming History"


@dataclass(frozen=True, slots=True)
class PlaylistTrack:
    id: str
    name: str
    artist: str
    album: str
    duration_ms: int
    row: tuple[str, ...]  # the dataset's own CSV row


@dataclass(frozen=True, slots=True)
class Playlists:
    header: tuple[str, ...]
    by_id: dict[str, list[PlaylistTrack]]  # playlist id -> its tracks, once each, file order
    names: dict[str, str]

    def largest(self, count: int) -> list[str]:
        """The ids of the `count` playlists with the most tracks (ties by id)."""
        return sorted(self.by_id, key=lambda pid: (-len(self.by_id[pid]), pid))[:count]


def read_playlists(catalog_dir: Path) -> Playlists:
    """Every playlist of `catalog_dir/spotify_songs.zip`, with its tracks."""
    with zipfile.ZipFile(catalog_dir / SONGS) as archive:
        text = archive.read(archive.namelist()[0]).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader))
    column = {name: index for index, name in enumerate(header)}
    by_id: dict[str, list[PlaylistTrack]] = {}
    names: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for row in reader:
        playlist, track_id = row[column["playlist_id"]], row[column["track_id"]]
        if (playlist, track_id) in seen or not row[column["track_name"]]:
            continue
        seen.add((playlist, track_id))
        names[playlist] = row[column["playlist_name"]]
        by_id.setdefault(playlist, []).append(
            PlaylistTrack(
                id=track_id,
                name=row[column["track_name"]],
                artist=row[column["track_artist"]],
                album=row[column["track_album_name"]],
                duration_ms=int(float(row[column["duration_ms"]])),
                row=tuple(row),
            )
        )
    return Playlists(header=header, by_id=by_id, names=names)


def tracks_csv(header: Sequence[str], tracks: Sequence[PlaylistTrack]) -> str:
    """The tracks' rows as a catalog file in the dataset's own format."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(track.row for track in tracks)
    return buffer.getvalue()


def export_zip(
    listens: Sequence[Listen], *, extended: bool = True, account: bool = True, per_file: int = 500
) -> bytes:
    """A zip laid out like Spotify's download: the histories split into files of
    `per_file` streams, and files that are not history beside them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        chunks = [listens[i : i + per_file] for i in range(0, len(listens), per_file)]
        for number, chunk in enumerate(chunks):
            if extended and chunk:
                years = f"{chunk[0].ended.year}-{chunk[-1].ended.year}"
                name = f"Streaming_History_Audio_{years}_{number}.json"
                archive.writestr(f"{EXTENDED_DIR}/{name}", extended_history(chunk))
            if account:
                archive.writestr(
                    f"Spotify Account Data/StreamingHistory_music_{number}.json",
                    account_history(chunk),
                )
        archive.writestr(
            f"{EXTENDED_DIR}/ReadMeFirst_ExtendedStreamingHistory.pdf",
            b"%PDF-1.4 not really a pdf",
        )
        archive.writestr(
            "Spotify Account Data/Userdata.json",
            json.dumps({"username": "listener", "country": "GB"}),
        )
        archive.writestr("Spotify Account Data/Playlist1.json", json.dumps({"playlists": []}))
        archive.writestr(
            "Spotify Account Data/StreamingHistory_podcast_0.json",
            json.dumps(
                [
                    {
                        "endTime": listen.ended.strftime("%Y-%m-%d %H:%M"),
                        "podcastName": "Notes on Music",
                        "episodeName": listen.episode,
                        "msPlayed": listen.ms_played,
                    }
                    for listen in listens
                    if listen.track is None
                ]
            ),
        )
    return buffer.getvalue()
