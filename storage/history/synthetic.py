"""Listening histories made up from a list of tracks, written the way Spotify writes them.

For the simulation (`earworm simulate --history`: each simulated member imports a history
made from half of its playlist, through /import spotify) and the tests: the same bytes a
member would upload, so they go through the real parser and import.

A member's listening is simulated over the tracks, deterministically from a seed:
favourites come back more often (a Zipf-like pick), times spread over a date range, about
a fifth of the streams are skipped after a few seconds, some are podcast episodes. Then:

- `extended_history(listens)`: the extended streaming history, `Streaming_History_Audio`
  JSON (every field Spotify writes, podcasts included, `ts` to the second);
- `account_history(listens)`: the account-data `StreamingHistory_music` JSON (`endTime` to
  the minute, no ids, no podcasts).

Nothing here reads or writes a database or a file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

MIN_PLAYED_MS = 30_000
EXTENDED_FILE_NAME = "Streaming_History_Audio_{years}_{number}.json"


class HistoryTrack(Protocol):
    """What a simulated listen needs to know of a track."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def artist(self) -> str: ...  # the main artist
    @property
    def album(self) -> str: ...
    @property
    def duration_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Track:
    """A track to listen to (when the caller has no such object of its own)."""

    id: str
    name: str
    artist: str
    album: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Listen:
    """One simulated stream: a track, or a podcast episode when `track` is None."""

    track: HistoryTrack | None
    ended: datetime
    ms_played: int
    skipped: bool
    episode: str | None = None


def simulate_listening(
    tracks: Sequence[HistoryTrack],
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
        if rng.random() < podcast_share or not order:
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


def extended_file_name(listens: Sequence[Listen], number: int = 0) -> str:
    """The name Spotify gives an extended history file of `listens`."""
    years = f"{listens[0].ended.year}-{listens[-1].ended.year}" if listens else "0000-0000"
    return EXTENDED_FILE_NAME.format(years=years, number=number)


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
