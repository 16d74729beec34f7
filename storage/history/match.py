"""Parsed plays to catalog tracks: by Spotify id when the play names one, else by title and
main artist.

Look-ups are batched, never one per play: the distinct Spotify ids in chunks; for the rest,
the distinct artists by their folded name (the `artists.name_key` the catalog importer
writes), then every track of those artists in chunks, kept in a dict keyed by (folded
title, folded artist). Titles fold like search does, and further: accents, case and
apostrophes are ignored and punctuation is read as spaces, so "Don't Stop Me Now",
"dont stop me now" and "Don’t Stop Me Now!" are one title. Versions stay apart ("Halo" is
not "Halo - Live").

When several tracks share a key (the same song on a single and an album), the one on the
play's album wins, then a track with audio features, one where the artist is the main
artist, the more popular, and the smaller id, so the choice is stable.

A play whose Spotify id the catalog lacks becomes a track outside the catalog, to be added
(title, artist, album); without a title or artist it stays unmatched (`no_metadata`). A play
without an id that matches nothing is unmatched (`not_in_catalog`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.catalog.formats import artist_key
from storage.history.parsed import ParsedPlay
from storage.models import Artist, Track, TrackArtist
from storage.repositories.plays import OutsideTrack
from storage.repositories.tracks import LOOKUP_IDS, known_track_ids

WORD = re.compile(r"[^\W_]+")
APOSTROPHES = re.compile("['\u2019]")


def title_key(title: str) -> str:
    """A title folded for matching: accents, case, apostrophes and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", APOSTROPHES.sub("", title))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(WORD.findall(plain.casefold()))


@dataclass(frozen=True, slots=True)
class MatchedPlay:
    track_id: str
    played_at: datetime
    ms_played: int | None
    skipped: bool | None


@dataclass(slots=True)
class MatchResult:
    """`plays` holds every play with a track, those of tracks outside the catalog included
    (`outside` lists the tracks to add first); `unmatched` the rest, by reason."""

    plays: list[MatchedPlay] = field(default_factory=list)
    outside: dict[str, OutsideTrack] = field(default_factory=dict)
    by_id: int = 0
    by_name: int = 0
    outside_plays: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Candidate:
    track_id: str
    album: str
    rank: tuple[int, int, int, str]  # smaller is better


def _matched(play: ParsedPlay, track_id: str) -> MatchedPlay:
    return MatchedPlay(track_id, play.played_at, play.ms_played, play.skipped)


async def match_plays(session: AsyncSession, plays: Sequence[ParsedPlay]) -> MatchResult:
    """Match `plays` against the catalog with a few batched queries."""
    result = MatchResult()
    known = await known_track_ids(session, {p.spotify_id for p in plays if p.spotify_id})
    by_name = [p for p in plays if not p.spotify_id]
    candidates = await _candidates(session, {artist_key(p.artist) for p in by_name if p.artist})
    for play in plays:
        if play.spotify_id:
            if play.spotify_id in known:
                result.by_id += 1
            elif play.title and play.artist:
                result.outside.setdefault(
                    play.spotify_id,
                    OutsideTrack(play.spotify_id, play.title, (play.artist,), play.album),
                )
                result.outside_plays += 1
            else:
                result.unmatched["no_metadata"] += 1
                continue
            result.plays.append(_matched(play, play.spotify_id))
            continue
        options = candidates.get((title_key(play.title), artist_key(play.artist)))
        if not options:
            result.unmatched["not_in_catalog"] += 1
            continue
        choice = options[0]
        if play.album:
            album = title_key(play.album)
            choice = next((c for c in options if c.album == album), choice)
        result.by_name += 1
        result.plays.append(_matched(play, choice.track_id))
    return result


async def _candidates(
    session: AsyncSession, artist_keys: set[str]
) -> dict[tuple[str, str], list[_Candidate]]:
    """Every catalog track of these artists, by (folded title, artist key), best first."""
    keys = sorted(key for key in artist_keys if key)
    artists: dict[int, str] = {}
    for start in range(0, len(keys), LOOKUP_IDS):
        chunk = keys[start : start + LOOKUP_IDS]
        rows = await session.execute(
            select(Artist.id, Artist.name_key).where(Artist.name_key.in_(chunk))
        )
        artists.update({artist_id: key for artist_id, key in rows})
    found: dict[tuple[str, str], list[_Candidate]] = {}
    ids = sorted(artists)
    for start in range(0, len(ids), LOOKUP_IDS):
        chunk = ids[start : start + LOOKUP_IDS]
        rows = await session.execute(
            select(
                TrackArtist.artist_id,
                TrackArtist.position,
                Track.id,
                Track.name,
                Track.album,
                Track.popularity,
                Track.danceability.is_(None),
            )
            .join(Track, Track.id == TrackArtist.track_id)
            .where(TrackArtist.artist_id.in_(chunk))
        )
        for artist_id, position, track_id, name, album, popularity, featureless in rows:
            rank = (int(bool(featureless)), min(position, 1), -(popularity or 0), track_id)
            found.setdefault((title_key(name), artists[artist_id]), []).append(
                _Candidate(track_id, title_key(album or ""), rank)
            )
    for options in found.values():
        options.sort(key=lambda candidate: candidate.rank)
    return found
