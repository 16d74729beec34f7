"""Spotify privacy exports built from real playlists, for the history import tests.

The tracks come from the TidyTuesday `spotify_songs.zip` of the shared datasets (real ids,
titles, artists, albums and lengths, grouped by playlist). A member's listening is simulated
over them, deterministically from a seed: favourites come back more often (a Zipf-like pick),
times spread over a date range, about a fifth of the streams are skipped after a few seconds,
some are podcast episodes. That listening is then written the way Spotify writes it:

- `extended_history(listens)`: the extended streaming history, `Streaming_History_Audio`
  JSON (every field Spotify writes, podcasts included, `ts` to the second);
- `account_history(listens)`: the account-data `StreamingHistory_music` JSON (`endTime` to
  the minute, no ids, no podcasts);
- `export_zip(listens)`: a zip laid out like Spotify's download (both histories in their
  folders, plus files that are not history: user data, playlists, a read-me).

`tracks_csv(tracks)` gives the tracks' own rows of the dataset, so a test can import exactly
the part of the catalog it wants (and leave the rest outside it).
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SONGS = "spotify_songs.zip"
MIN_PLAYED_MS = 30_000
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
class Listen:
    """One simulated stream: a track, or a podcast episode when `track` is None."""

    track: PlaylistTrack | None
    ended: datetime
    ms_played: int
    skipped: bool
    episode: str | None = None


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


def simulate_listening(
    tracks: Sequence[PlaylistTrack],
    *,
    seed: int,
    count: int,
    start: datetime = datetime(2019, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2020, 12, 31, tzinfo=UTC),
    skip_share: float = 0.2,
    podcast_share: float = 0.05,
) -> list[Listen]:
    """`count` streams over `tracks` between `start` and `end`, oldest first (see the
    module docstring). The same seed gives the same listening."""
    rng = random.Random(seed)
    order = list(tracks)
    rng.shuffle(order)  # who the favourites are depends on the seed too
    weights = [1.0 / (rank + 1) for rank in range(len(order))]
    span = (end - start).total_seconds()
    moments = sorted(rng.uniform(0, span) for _ in range(count))
    listens: list[Listen] = []
    for offset in moments:
        ended = (start + timedelta(seconds=offset)).replace(microsecond=0)
        if rng.random() < podcast_share:
            episode = f"Episode {rng.randint(1, 300)}: Notes on Music"
            listens.append(Listen(None, ended, rng.randint(60_000, 3_600_000), False, episode))
            continue
        track = rng.choices(order, weights)[0]
        if rng.random() < skip_share:
            listens.append(Listen(track, ended, rng.randint(500, MIN_PLAYED_MS - 1), True))
        else:
            heard = track.duration_ms if rng.random() < 0.8 else rng.randint(30_000, 120_000)
            listens.append(Listen(track, ended, min(heard, track.duration_ms), False))
    return listens


def _extended_row(listen: Listen) -> dict[str, object]:
    track = listen.track
    return {
        "ts": listen.ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "android",
        "ms_played": listen.ms_played,
        "conn_country": "GB",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": track.name if track else None,
        "master_metadata_album_artist_name": track.artist if track else None,
        "master_metadata_album_album_name": track.album if track else None,
        "spotify_track_uri": f"spotify:track:{track.id}" if track else None,
        "episode_name": listen.episode,
        "episode_show_name": "Notes on Music" if listen.episode else None,
        "spotify_episode_uri": "spotify:episode:5eMHxZm5k9VG9aaYhQFFzB" if listen.episode else None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "clickrow" if listen.skipped else "trackdone",
        "reason_end": "fwdbtn" if listen.skipped else "trackdone",
        "shuffle": False,
        "skipped": listen.skipped,
        "offline": False,
        "offline_timestamp": int(listen.ended.timestamp() * 1000),
        "incognito_mode": False,
    }


def extended_history(listens: Sequence[Listen]) -> bytes:
    """The extended streaming history JSON of `listens`, as Spotify indents it."""
    return json.dumps([_extended_row(listen) for listen in listens], indent=2).encode()


def account_history(listens: Sequence[Listen]) -> bytes:
    """The account-data `StreamingHistory_music` JSON of `listens` (podcasts left out)."""
    rows = [
        {
            "endTime": listen.ended.strftime("%Y-%m-%d %H:%M"),
            "artistName": listen.track.artist,
            "trackName": listen.track.name,
            "msPlayed": listen.ms_played,
        }
        for listen in listens
        if listen.track is not None
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False).encode()


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
