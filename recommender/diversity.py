"""Keeping a list varied: one version of a song, and a cap on tracks per artist."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from recommender.data import ItemCatalog

# "Song - Remastered 2011", "Song (feat. X)", "Song [Live]": the same song, other versions.
_VERSION_SUFFIX = re.compile(r"\s+-\s+.*$")
_BRACKETS = re.compile(r"[(\[].*?[)\]]")
_FEATURING = re.compile(r"\b(feat|ft|featuring)\.?\s.*$")
_NON_WORD = re.compile(r"[^\w]+")
ARTIST_WINDOW = 10


def normalize_title(title: str) -> str:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    stripped = _FEATURING.sub("", _BRACKETS.sub("", _VERSION_SUFFIX.sub("", text)))
    words = _NON_WORD.sub(" ", stripped).split()
    return " ".join(words) or " ".join(_NON_WORD.sub(" ", text).split())


def normalize_artist(artist: str) -> str:
    decomposed = unicodedata.normalize("NFKD", artist.casefold())
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", text).split())


def song_key(catalog: ItemCatalog, index: int) -> tuple[str, str]:
    """Two tracks with the same key are versions of one song (same title, same main artist)."""
    return normalize_title(catalog.names[index]), normalize_artist(catalog.main_artist(index))


def _remembered_song_key(catalog: ItemCatalog, index: int) -> tuple[str, str]:
    """`song_key`, kept on the catalog: every request's picks ask again for the same few
    thousand tracks, and normalising a title costs a few regular expressions."""
    known = catalog.song_keys
    key = known.get(index)
    if key is None:
        key = known[index] = song_key(catalog, index)
    return key


def diversify(
    ranked: Iterable[int],
    catalog: ItemCatalog,
    k: int,
    *,
    max_per_artist: int = 2,
    taken_songs: Iterable[tuple[str, str]] = (),
) -> list[int]:
    """The first k of `ranked` (best first) with no two versions of a song, no version of
    a song in `taken_songs` (e.g. the seeds), and at most `max_per_artist` tracks per main
    artist in each block of ten."""
    songs = set(taken_songs)
    per_artist: Counter[str] = Counter()
    chosen: list[int] = []
    for index in ranked:
        if len(chosen) >= k:
            break
        if len(chosen) % ARTIST_WINDOW == 0:
            per_artist.clear()
        key = _remembered_song_key(catalog, int(index))
        artist = key[1]
        if key in songs or (artist and per_artist[artist] >= max_per_artist):
            continue
        songs.add(key)
        per_artist[artist] += 1
        chosen.append(int(index))
    return chosen
