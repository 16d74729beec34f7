"""Trending charts: what `/trending` shows.

Two models, both plain `Recommender`s, so they save, load and recommend like the others:

- `CatalogTrending` needs no feedback: the most popular tracks of the most popular artists
  in the catalog, at most `per_artist` per artist and one version of each song, overall or
  within a genre. It is the chart of a fresh install.
- `FeedbackTrending` ranks what members liked lately. Every opinion fades with its age
  (half-life 7 days), a member's say on a track is capped at their strongest opinion of it,
  and a track needs `min_users` distinct fans before it can chart, so one person cannot
  push a track to the top. It keeps a chart per Discord server and one across Earworm.

- `TrendingTally` is `FeedbackTrending` kept up to date from new rows only (and from the
  rows deleted): what a server serves from, instead of refitting on every feedback row.

`trending_chart` is what the command shows: the server's chart, topped up from Earworm's,
then from the catalog's, each entry saying which chart it came from.
"""

from __future__ import annotations

import copy
import difflib
import math
import threading
import unicodedata
from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush
from itertools import chain, pairwise
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.base import Recommender, check_k
from recommender.data import Interactions, ItemCatalog, row_items
from recommender.diversity import normalize_artist, normalize_title
from recommender.vocab import Vocabulary

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

SERVER_CHART = "server"
EARWORM_CHART = "earworm"
CATALOG_CHART = "catalog"

# An artist's popularity is the mean of their best few songs: several hits beat one hit,
# and album filler does not drag a star down.
ARTIST_TOP_SONGS = 3
SECONDS_PER_DAY = 86_400
# Opinions older than this many half-lives weigh under 0.4 % and say nothing about "now";
# dropping them also keeps an old fan from counting toward `min_users`.
MAX_AGE_HALF_LIVES = 8
SUGGESTIONS = 5
SUBSTRING_MIN_LENGTH = 3
LONELY_SERVER_NOTE = "too little recent activity in this server to chart yet"


@dataclass(frozen=True, slots=True)
class ChartEntry:
    """One place on a chart: the track, its score on that chart, why, and which chart
    ("server", "earworm" or "catalog"). Scores compare only within one chart."""

    item: str
    score: float
    reason: str
    chart: str


# --- genres -------------------------------------------------------------------------------


def genre_key(name: str) -> str:
    """'Hip-Hop', 'hip hop' and 'HipHop' are one genre: letters and digits, no accents."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())


def _or_list(names: Sequence[str]) -> str:
    quoted = [f"'{name}'" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class UnknownGenreError(ValueError):
    """A genre the chart does not know. `suggestions` holds close genre names or, when
    nothing is close, the biggest genres (`close` says which)."""

    def __init__(self, genre: str, suggestions: Sequence[str], *, close: bool) -> None:
        self.genre = genre
        self.suggestions = list(suggestions)
        self.close = close
        if not self.suggestions:
            hint = "no genres are known (the catalog lists none)"
        elif close:
            hint = f"did you mean {_or_list(self.suggestions)}?"
        else:
            hint = f"try {_or_list(self.suggestions)}"
        super().__init__(f"unknown genre {genre!r}; {hint}")


def _genre_pairs(
    item_genres: Sequence[tuple[str, ...]], also_known: Sequence[str] = ()
) -> tuple[list[str], IntArray, IntArray]:
    """Every (genre, item) membership, spellings of one genre merged: the genre names (the
    alphabetically first spelling of each, sorted; `also_known` adds names no item lists)
    and the genre and item of each pair."""
    spelling: dict[str, str] = {}
    key_of: dict[str, str] = {}

    def remember(name: str) -> str:
        key = key_of.get(name)
        if key is None:
            key = key_of[name] = genre_key(name)
            if key and (key not in spelling or name < spelling[key]):
                spelling[key] = name
        return key

    for name in also_known:
        remember(name)
    pair_keys: list[str] = []
    pair_items: list[int] = []
    for item, genres in enumerate(item_genres):
        for name in genres:
            key = remember(name)
            if key:
                pair_keys.append(key)
                pair_items.append(item)
    names = sorted(spelling.values())
    position = {genre_key(name): index for index, name in enumerate(names)}
    genres = np.fromiter((position[key] for key in pair_keys), dtype=np.int64, count=len(pair_keys))
    stride = max(len(item_genres), 1)
    # One pair per genre and item even when the item lists "hip hop" and "hip-hop".
    unique = np.unique(genres * stride + np.asarray(pair_items, dtype=np.int64))
    return names, unique // stride, unique % stride


class GenreLists:
    """An ordered list of item indices per genre (a chart, or the members), looked up by a
    forgiving name; an unknown name raises UnknownGenreError with suggestions."""

    def __init__(self, names: Sequence[str], indptr: IntArray, items: IntArray) -> None:
        self.names = [str(name) for name in names]
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        self._position = {genre_key(name): index for index, name in enumerate(self.names)}

    @classmethod
    def from_pairs(cls, names: Sequence[str], genres: IntArray, items: IntArray) -> GenreLists:
        """Pairs in the order each genre's list should keep (a stable sort groups them)."""
        order = np.argsort(genres, kind="stable")
        counts = np.bincount(genres, minlength=len(names))
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(names, indptr, items[order])

    def __len__(self) -> int:
        return len(self.names)

    def position(self, genre: str) -> int:
        found = self._position.get(genre_key(genre))
        if found is None:
            suggestions, close = self.suggest(genre)
            raise UnknownGenreError(genre, suggestions, close=close)
        return found

    def items_of(self, position: int) -> IntArray:
        return self.items[self.indptr[position] : self.indptr[position + 1]]

    def suggest(self, genre: str) -> tuple[list[str], bool]:
        """Genres whose names contain, or are spelled like, `genre`; else the biggest ones."""
        key = genre_key(genre)
        sizes = np.diff(self.indptr)
        by_size = sorted(self._position.items(), key=lambda pair: (-sizes[pair[1]], pair[0]))
        containing = [
            position
            for other, position in by_size
            if len(key) >= SUBSTRING_MIN_LENGTH and (key in other or other in key)
        ]
        spelled = [
            self._position[other]
            for other in difflib.get_close_matches(key, list(self._position), n=SUGGESTIONS)
        ]
        close = list(dict.fromkeys(spelled + containing))[:SUGGESTIONS]
        if close:
            return [self.names[position] for position in close], True
        return [self.names[position] for _, position in by_size[:SUGGESTIONS]], False

    def to_arrays(self) -> Arrays:
        return {
            "genre_names": np.asarray(self.names, dtype=np.str_),
            "genre_indptr": self.indptr,
            "genre_items": self.items,
        }

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> GenreLists:
        return cls(arrays["genre_names"].tolist(), arrays["genre_indptr"], arrays["genre_items"])


# --- what a member has already seen ---------------------------------------------------------


class SeenItems:
    """Which items each user gave any feedback on, so a chart does not offer them again."""

    def __init__(self, users: Vocabulary, matrix: sp.csr_matrix) -> None:
        self.users = users
        self.matrix = matrix

    @classmethod
    def of(cls, interactions: Interactions, items: Vocabulary) -> SeenItems:
        users = interactions.user_vocab
        rows = users.indices(interactions.users.tolist())
        cols = items.indices(interactions.items.tolist())
        keep = cols >= 0
        matrix = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
            shape=(len(users), len(items)),
        )
        matrix.sum_duplicates()
        return cls(users, matrix)

    def of_user(self, user: str) -> IntArray:
        return row_items(self.matrix, self.users.index(user))

    def to_arrays(self) -> Arrays:
        return {
            "seen_users": self.users.ids,
            "seen_indptr": self.matrix.indptr,
            "seen_indices": self.matrix.indices,
        }

    @classmethod
    def from_arrays(cls, arrays: Arrays, item_count: int) -> SeenItems:
        users = Vocabulary(arrays["seen_users"])
        indices = arrays["seen_indices"]
        matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, arrays["seen_indptr"]),
            shape=(len(users), item_count),
        )
        return cls(users, matrix)


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _listeners(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


# --- the catalog chart ----------------------------------------------------------------------


def _ranked(
    groups: IntArray,
    items: IntArray,
    scores: FloatArray,
    songs: IntArray,
    artists: IntArray,
    per_artist: int,
) -> tuple[IntArray, IntArray]:
    """Each group's items best first (ties: lower index), keeping the best version of each
    song and at most `per_artist` tracks per artist; the (group, item) pairs in that order."""
    frame = pd.DataFrame(
        {
            "group": groups,
            "item": items,
            "score": scores[items],
            "song": songs[items],
            "artist": artists[items],
        }
    )
    frame = frame.sort_values(["group", "score", "item"], ascending=[True, False, True])
    frame = frame.drop_duplicates(["group", "song"])
    frame = frame[frame.groupby(["group", "artist"]).cumcount() < per_artist]
    return frame["group"].to_numpy(np.int64), frame["item"].to_numpy(np.int64)


def _artist_popularity(artists: IntArray, songs: IntArray, popularity: FloatArray) -> FloatArray:
    """Per artist code: the mean popularity of their ARTIST_TOP_SONGS best songs (NaN when
    none of their tracks has a popularity)."""
    frame = pd.DataFrame({"artist": artists, "song": songs, "popularity": popularity}).dropna()
    frame = frame.sort_values(["artist", "popularity"], ascending=[True, False])
    frame = frame.drop_duplicates("song")
    best = frame.groupby("artist").head(ARTIST_TOP_SONGS).groupby("artist")["popularity"].mean()
    result = np.full(int(artists.max()) + 1 if len(artists) else 0, np.nan)
    result[best.index.to_numpy(np.int64)] = best.to_numpy()
    return result


def _artist_and_song_codes(catalog: ItemCatalog) -> tuple[IntArray, IntArray]:
    """Per track, a code for its main artist and one for its song (as diversity.song_key
    sees it), each distinct name normalized once."""
    artist_key = _memo(normalize_artist)
    title_key = _memo(normalize_title)
    artist_keys: list[str] = []
    song_keys: list[str] = []
    for index in range(len(catalog)):
        artist = artist_key(catalog.main_artist(index))
        song_keys.append(f"{title_key(catalog.names[index])}\0{artist}")
        # A track without an artist is an artist of its own, so the cap never groups them.
        artist_keys.append(artist or f"\0{index}")
    artists = pd.factorize(pd.Series(artist_keys, dtype=object))[0]
    songs = pd.factorize(pd.Series(song_keys, dtype=object))[0]
    return artists.astype(np.int64), songs.astype(np.int64)


def _memo(normalize: Callable[[str], str]) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def cached(text: str) -> str:
        found = cache.get(text)
        if found is None:
            found = cache[text] = normalize(text)
        return found

    return cached


def _chart_scores(popularity: FloatArray, artists: IntArray, songs: IntArray) -> FloatArray:
    """The mean of a track's popularity and its artist's; -inf without a popularity."""
    artist_popularity = _artist_popularity(artists, songs, popularity)
    scores = np.full(len(popularity), -np.inf)
    known = np.isfinite(popularity)
    scores[known] = (popularity[known] + artist_popularity[artists[known]]) / 2
    return scores


def _main_artist_names(catalog: ItemCatalog) -> tuple[IntArray, list[str]]:
    """Each track's main artist as a code into the distinct names."""
    names = pd.Series([catalog.main_artist(index) for index in range(len(catalog))], dtype=object)
    codes, distinct = pd.factorize(names)
    return codes.astype(np.int64), [str(name) for name in distinct]


def _pack(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Strings as UTF-8 bytes plus offsets: a numpy unicode array would give every name
    the room of the longest, four bytes a character (35 MiB of artists at 10x scale)."""
    encoded = [text.encode() for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(chunk) for chunk in encoded])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _unpack(data: npt.NDArray[np.uint8], offsets: IntArray) -> list[str]:
    raw = data.tobytes()
    bounds = offsets.tolist()
    return [raw[start:stop].decode() for start, stop in pairwise(bounds)]


class CatalogTrending(Recommender):
    """The top tracks of the top artists by catalog popularity; the same chart for everyone.

    A track's chart score is the mean of its own popularity and its artist's (the mean of
    the artist's ARTIST_TOP_SONGS best songs), so a hit by a star outranks an equal hit by
    a one-hit wonder. Tracks without a popularity never chart.
    """

    kind = "trending-catalog"

    def __init__(self, per_artist: int = 2) -> None:
        if isinstance(per_artist, bool) or not isinstance(per_artist, int) or per_artist < 1:
            raise ValueError(f"per_artist must be a positive integer, got {per_artist!r}")
        self.per_artist = per_artist
        self._items = Vocabulary([])
        self._scores = np.zeros(0)  # every track's chart score, -inf without a popularity
        self._offered = np.zeros(0)
        self._artist_names: list[str] = []  # distinct main artists
        self._artist_of = np.empty(0, dtype=np.int64)  # each track's, into _artist_names
        self._chart = np.empty(0, dtype=np.int64)
        self._genres = GenreLists([], np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int64))
        self._seen = SeenItems(Vocabulary([]), sp.csr_matrix((0, 0)))

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        if catalog is None:
            raise ValueError("CatalogTrending ranks the catalog: pass the ItemCatalog to fit")
        artists, songs = _artist_and_song_codes(catalog)
        scores = _chart_scores(np.asarray(catalog.popularity, dtype=np.float64), artists, songs)
        chartable = np.flatnonzero(np.isfinite(scores))
        everything = np.zeros(len(chartable), dtype=np.int64)
        _, chart = _ranked(everything, chartable, scores, songs, artists, self.per_artist)
        names, pair_genres, pair_items = _genre_pairs(catalog.genres)
        keep = np.isfinite(scores[pair_items])
        genre_charts = _ranked(
            pair_genres[keep], pair_items[keep], scores, songs, artists, self.per_artist
        )

        self._items = catalog.vocab
        self._scores = scores
        self._artist_of, self._artist_names = _main_artist_names(catalog)
        self._chart = chart
        self._genres = GenreLists.from_pairs(names, *genre_charts)
        self._seen = SeenItems.of(interactions, self._items)
        self._offered = self._chart_only()
        return self

    def with_interactions(self, interactions: Interactions) -> Self:
        """The same charts, excluding what each member of `interactions` has seen. The
        charts depend only on the catalog, so new feedback needs no refit (fitting
        normalises every title and artist: most of a refresh's time on a big catalog)."""
        refreshed = copy.copy(self)
        refreshed._seen = SeenItems.of(interactions, self._items)
        return refreshed

    def _chart_only(self) -> FloatArray:
        """Scores for `score_users`: the overall chart's tracks; -inf for every other."""
        offered = np.full(len(self._scores), -np.inf)
        offered[self._chart] = self._scores[self._chart]
        return offered

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    @property
    def genres(self) -> list[str]:
        return list(self._genres.names)

    def genre_name(self, genre: str) -> str:
        """The catalog's spelling of `genre`; UnknownGenreError with suggestions if none."""
        return self._genres.names[self._genres.position(genre)]

    def score_users(self, users: Sequence[str]) -> FloatArray:
        return np.tile(self._offered, (len(users), 1))

    def seen_items(self, user: str) -> IntArray:
        return self._seen.of_user(user)

    def reason(self, user: str, item_index: int) -> str:
        return self._reason(item_index, genre=None)

    def _reason(self, item_index: int, genre: str | None) -> str:
        artist = self._artist_names[self._artist_of[item_index]]
        why = (
            f"one of {_possessive(artist)} most popular tracks"
            if artist
            else "one of the catalog's most popular tracks"
        )
        return f"popular in {genre}: {why}" if genre else why

    def top(self, k: int = 10, genre: str | None = None) -> list[ChartEntry]:
        """The chart's first k tracks, overall or within `genre` (per-artist cap and song
        versions applied within that genre); UnknownGenreError for a genre it lacks."""
        k = check_k(k)
        if genre is None:
            chart, label = self._chart[:k], None
        else:
            position = self._genres.position(genre)
            chart, label = self._genres.items_of(position)[:k], self._genres.names[position]
        return [
            ChartEntry(
                self._items.id_of(int(index)),
                float(self._scores[index]),
                self._reason(int(index), label),
                CATALOG_CHART,
            )
            for index in chart
        ]

    def state(self) -> tuple[dict[str, Any], Arrays]:
        names, offsets = _pack(self._artist_names)
        return {"per_artist": self.per_artist}, {
            "items": self._items.ids,
            "scores": self._scores,
            "artist_names": names,
            "artist_offsets": offsets,
            "artist_of": self._artist_of,
            "chart": self._chart,
            **self._genres.to_arrays(),
            **self._seen.to_arrays(),
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls(per_artist=int(params["per_artist"]))
        model._items = Vocabulary(arrays["items"])
        model._scores = arrays["scores"]
        model._artist_names = _unpack(arrays["artist_names"], arrays["artist_offsets"])
        model._artist_of = arrays["artist_of"]
        model._chart = arrays["chart"]
        model._genres = GenreLists.from_arrays(arrays)
        model._seen = SeenItems.from_arrays(arrays, len(model._items))
        model._offered = model._chart_only()
        return model


# --- the feedback chart ---------------------------------------------------------------------


def _opinions(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per member and track (per `keys`): their strongest positive say plus their
    strongest negative one, so 50 likes count as one like and a love as a love."""
    grouped = frame.groupby(keys, sort=False)["say"]
    opinion = grouped.max().clip(lower=0) + grouped.min().clip(upper=0)
    return opinion.rename("opinion").reset_index()


def _tally(opinions: pd.DataFrame, keys: list[str], min_users: int) -> pd.DataFrame:
    """Per `keys` (track, or server and track): the summed opinions and the fans (members
    with a positive opinion); only rows that chart: enough fans and a positive score."""
    positive = (opinions["opinion"] > 0).astype(np.int64)
    totals = (
        opinions.assign(fan=positive)
        .groupby(keys, sort=False)
        .agg(score=("opinion", "sum"), fans=("fan", "sum"))
        .reset_index()
    )
    return totals[(totals["fans"] >= min_users) & (totals["score"] > 0)]


def _check_chart_settings(half_life_days: float, min_users: int) -> None:
    if not (isinstance(half_life_days, int | float) and math.isfinite(half_life_days)):
        raise ValueError(f"half_life_days must be a number, got {half_life_days!r}")
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    if isinstance(min_users, bool) or not isinstance(min_users, int) or min_users < 1:
        raise ValueError(f"min_users must be a positive integer, got {min_users!r}")


class FeedbackTrending(Recommender):
    """What members liked lately, per server and across Earworm.

    Each opinion's weight (recommender.feedback: like +1, love +2, skip -0.3, dislike -1.5)
    is multiplied by 0.5 ** (age / half-life), age counted back from `now` (fit's argument;
    by default the newest feedback, so a snapshot always gives the same chart). A member's
    opinion of a track is their strongest positive plus strongest negative say; a track's
    score is the sum over members; it charts with at least `min_users` fans (members with
    a positive opinion) and a positive score.
    """

    kind = "trending-feedback"

    def __init__(self, half_life_days: float = 7.0, min_users: int = 3) -> None:
        _check_chart_settings(half_life_days, min_users)
        self.half_life_days = float(half_life_days)
        self.min_users = min_users
        self.now = 0.0
        self._items = Vocabulary([])
        self._scores = np.zeros(0)
        self._fans = np.zeros(0, dtype=np.int64)
        self._chart = np.empty(0, dtype=np.int64)
        self._servers = Vocabulary([])
        self._server_indptr = np.zeros(1, dtype=np.int64)
        self._server_items = np.empty(0, dtype=np.int64)
        self._server_scores = np.zeros(0)
        self._server_fans = np.zeros(0, dtype=np.int64)
        self._genres: GenreLists | None = None
        self._seen = SeenItems(Vocabulary([]), sp.csr_matrix((0, 0)))

    @property
    def max_age_days(self) -> float:
        return MAX_AGE_HALF_LIVES * self.half_life_days

    def fit(
        self,
        interactions: Interactions,
        catalog: ItemCatalog | None = None,
        *,
        groups: Sequence[str] | npt.NDArray[np.str_] | None = None,
        now: float | None = None,
    ) -> Self:
        """`groups[i]` is the Discord server (guild id as a string) of interaction i, ""
        in DMs; None means all DMs. With a catalog, tracks outside it are ignored and the
        chart can be filtered by genre."""
        servers = np.full(len(interactions), "", dtype=object)
        if groups is not None:
            servers = np.asarray([str(group) for group in groups], dtype=object)
            if len(servers) != len(interactions):
                raise ValueError("groups must have one entry per interaction")
        timestamps = interactions.timestamps.astype(np.float64)
        self.now = float(now) if now is not None else float(timestamps.max(initial=0.0))
        age_days = np.maximum(self.now - timestamps, 0.0) / SECONDS_PER_DAY
        recent = age_days <= self.max_age_days
        if catalog is not None:
            recent &= catalog.vocab.indices(interactions.items.tolist()) >= 0
        frame = pd.DataFrame(
            {
                "user": interactions.users[recent],
                "item": interactions.items[recent],
                "server": servers[recent],
                "say": interactions.weights[recent]
                * 0.5 ** (age_days[recent] / self.half_life_days),
            }
        )
        self._items = Vocabulary(pd.unique(frame["item"]).tolist())
        frame["item"] = self._items.indices(frame["item"].tolist())
        self._fit_earworm_chart(frame)
        self._fit_server_charts(frame[frame["server"] != ""])
        self._genres = self._genre_members(catalog) if catalog is not None else None
        self._seen = SeenItems.of(interactions, self._items)
        return self

    def _fit_earworm_chart(self, frame: pd.DataFrame) -> None:
        # A member counts once across servers and DMs: their opinion is taken over all.
        charting = _tally(_opinions(frame, ["user", "item"]), ["item"], self.min_users)
        items = charting["item"].to_numpy(np.int64)
        self._scores = np.full(len(self._items), -np.inf)
        self._scores[items] = charting["score"].to_numpy(np.float64)
        self._fans = np.zeros(len(self._items), dtype=np.int64)
        self._fans[items] = charting["fans"].to_numpy(np.int64)
        self._chart = items[np.lexsort((items, -self._scores[items]))]

    def _fit_server_charts(self, frame: pd.DataFrame) -> None:
        keys = ["server", "item"]
        charting = _tally(_opinions(frame, ["server", "user", "item"]), keys, self.min_users)
        charting = charting.sort_values(["server", "score", "item"], ascending=[True, False, True])
        self._servers = Vocabulary(charting["server"].unique().tolist())
        servers = self._servers.indices(charting["server"].tolist())
        counts = np.bincount(servers, minlength=len(self._servers))
        self._server_indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._server_items = charting["item"].to_numpy(np.int64)
        self._server_scores = charting["score"].to_numpy(np.float64)
        self._server_fans = charting["fans"].to_numpy(np.int64)

    def _genre_members(self, catalog: ItemCatalog) -> GenreLists:
        # Every catalog genre is known (a genre without feedback is an empty chart, not an
        # unknown genre); only tracks with feedback are listed.
        every_genre = {name for genres in catalog.genres for name in genres}
        positions = catalog.vocab.indices(self._items.ids.tolist())
        names, genres, items = _genre_pairs(
            [catalog.genres[position] for position in positions], sorted(every_genre)
        )
        return GenreLists.from_pairs(names, genres, items)

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    @property
    def servers(self) -> list[str]:
        """The servers with a chart of their own."""
        return self._servers.ids.tolist()

    def score_users(self, users: Sequence[str]) -> FloatArray:
        return np.tile(self._scores, (len(users), 1))

    def seen_items(self, user: str) -> IntArray:
        return self._seen.of_user(user)

    def reason(self, user: str, item_index: int) -> str:
        return self._earworm_reason(item_index)

    def _earworm_reason(self, item_index: int) -> str:
        fans = int(self._fans[item_index])
        return f"trending across Earworm: {_listeners(fans, 'listener')} liked it recently"

    def _genre_mask(self, genre: str | None) -> npt.NDArray[np.bool_] | None:
        if genre is None:
            return None
        if self._genres is None:
            raise UnknownGenreError(genre, [], close=False)
        mask = np.zeros(len(self._items), dtype=bool)
        mask[self._genres.items_of(self._genres.position(genre))] = True
        return mask

    def top(
        self, k: int = 10, guild: str | None = None, genre: str | None = None
    ) -> list[ChartEntry]:
        """The server's chart (when `guild` is given), topped up from Earworm's; optionally
        within `genre`. A server without a chart gets Earworm's, and the reasons say so."""
        k = check_k(k)
        in_genre = self._genre_mask(genre)
        entries = self._server_entries(str(guild), k, in_genre) if guild is not None else []
        lonely = guild is not None and not entries
        taken = {entry.item for entry in entries}
        chart = self._chart if in_genre is None else self._chart[in_genre[self._chart]]
        # k candidates suffice: at most len(entries) of them are listed already.
        for item in chart[:k].tolist():
            if len(entries) == k:
                break
            identifier = self._items.id_of(item)
            if identifier in taken:
                continue
            why = self._earworm_reason(item)
            if lonely:
                why = f"{why} ({LONELY_SERVER_NOTE})"
            entries.append(ChartEntry(identifier, float(self._scores[item]), why, EARWORM_CHART))
        return entries

    def _server_entries(
        self, server: str, k: int, in_genre: npt.NDArray[np.bool_] | None
    ) -> list[ChartEntry]:
        row = self._servers.index(server)
        if row < 0:
            return []
        start, stop = self._server_indptr[row], self._server_indptr[row + 1]
        items = self._server_items[start:stop]
        keep = np.ones(len(items), dtype=bool) if in_genre is None else in_genre[items]
        return [
            ChartEntry(
                self._items.id_of(item),
                score,
                f"popular in this server: {_listeners(fans, 'member')} liked it recently",
                SERVER_CHART,
            )
            for item, score, fans in zip(
                items[keep][:k].tolist(),
                self._server_scores[start:stop][keep][:k].tolist(),
                self._server_fans[start:stop][keep][:k].tolist(),
                strict=True,
            )
        ]

    def state(self) -> tuple[dict[str, Any], Arrays]:
        params = {
            "half_life_days": self.half_life_days,
            "min_users": self.min_users,
            "now": self.now,
            "has_genres": self._genres is not None,
        }
        genres = self._genres.to_arrays() if self._genres is not None else {}
        return params, {
            "items": self._items.ids,
            "scores": self._scores,
            "fans": self._fans,
            "chart": self._chart,
            "servers": self._servers.ids,
            "server_indptr": self._server_indptr,
            "server_items": self._server_items,
            "server_scores": self._server_scores,
            "server_fans": self._server_fans,
            **genres,
            **self._seen.to_arrays(),
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls(float(params["half_life_days"]), int(params["min_users"]))
        model.now = float(params["now"])
        model._items = Vocabulary(arrays["items"])
        model._scores = arrays["scores"]
        model._fans = arrays["fans"]
        model._chart = arrays["chart"]
        model._servers = Vocabulary(arrays["servers"])
        model._server_indptr = arrays["server_indptr"]
        model._server_items = arrays["server_items"]
        model._server_scores = arrays["server_scores"]
        model._server_fans = arrays["server_fans"]
        model._genres = GenreLists.from_arrays(arrays) if params["has_genres"] else None
        model._seen = SeenItems.from_arrays(arrays, len(model._items))
        return model


# --- the feedback chart, kept up to date row by row ------------------------------------------

# Opinions are summed as whole numbers of 2**-EXACT_BITS: exact, so a total is the same
# whatever order rows came and went in (a float total that gains and loses opinions
# drifts, and two tracks with the same opinions would stop tying). Every opinion of at
# least 2**-107 in size (in reference units: a weight of 1e-30, 8 half-lives old) is
# a whole number of these units; a smaller one loses its lowest bits (rounded down, the
# same way each time), so totals stay exact sums. 160 bits keep a total to about 30 bytes of digits
# (2**-1074, which holds every double, made them 150).
EXACT_BITS = 160
EXACT_ONE = 1 << EXACT_BITS
# Decayed weights are kept relative to a reference time (so that they need no update as
# time passes); once it lies this many half-lives back it moves up to now and every
# total is recomputed (O(live rows), every ~450 days at the default half-life).
REBASE_HALF_LIVES = 64
KEY_STRIDE = 1 << 32  # a (member, track) or (server, track) pair packed into one int
SORTED_LOAD = 256
BULK_ROWS = 1024  # admitting at least this many rows at once (and a quarter of all): recount
# What a stored row is: free slot, waiting (its time is after now: it is counted at `now`
# only while a query runs), counted, or being admitted by `advance`.
FREE, WAITING, COUNTED, ADMITTING = 0, 1, 2, 3
_NO_TALLY = (0, 0, None)  # a (server, track) pair without opinions: total, fans, chart key


def _exact(value: float) -> int:
    """`value` as a whole number of 2**-EXACT_BITS (rounded down below 2**-107)."""
    mantissa, exponent = math.frexp(value)
    whole = int(mantissa * 9007199254740992.0)  # mantissa * 2**53: exact
    shift = exponent + EXACT_BITS - 53
    return whole << shift if shift >= 0 else whole >> -shift


def _listed(values: Sequence[Any] | npt.NDArray[Any]) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


class _SortedKeys:
    """Distinct keys kept sorted in buckets of at most 2 * load: add and remove cost a
    bisection and a short list shift; reading the first k costs k."""

    __slots__ = ("_buckets", "_load", "_maxes")

    def __init__(self, keys: Iterable[Any] = (), load: int = SORTED_LOAD) -> None:
        ordered = sorted(keys)
        self._load = load
        self._buckets = [ordered[start : start + load] for start in range(0, len(ordered), load)]
        self._maxes = [bucket[-1] for bucket in self._buckets]

    def __bool__(self) -> bool:
        return bool(self._maxes)

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets)

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self._buckets)

    def add(self, key: Any) -> None:
        maxes = self._maxes
        if not maxes:
            self._buckets.append([key])
            maxes.append(key)
            return
        index = bisect_left(maxes, key)
        if index == len(maxes):
            index -= 1
            bucket = self._buckets[index]
            bucket.append(key)
            maxes[index] = key
        else:
            bucket = self._buckets[index]
            insort(bucket, key)
        if len(bucket) > 2 * self._load:
            half = self._load
            self._buckets[index : index + 1] = [bucket[:half], bucket[half:]]
            maxes[index : index + 1] = [bucket[half - 1], bucket[-1]]

    def remove(self, key: Any) -> None:
        index = bisect_left(self._maxes, key)
        bucket = self._buckets[index]
        position = bisect_left(bucket, key)
        if bucket[position] != key:
            raise KeyError(key)
        del bucket[position]
        if not bucket:
            del self._buckets[index]
            del self._maxes[index]
        elif position == len(bucket):
            self._maxes[index] = bucket[-1]


class TrendingTally:
    """The feedback chart kept up to date from new rows only. `top(k, guild, genre)` answers
    what `FeedbackTrending(half_life_days, min_users).fit(rows, catalog, groups=servers,
    now=now).top(k, guild, genre)` answers, `rows` being every row added and not removed,
    in the order they were added; `trending_chart` takes it in place of the fit.

    - Cost: `add` and `remove` O(rows given) (times the few rows that member has on that
      track); `advance(now)` forgets the rows that left the window, O(rows forgotten);
      `top` O(k) plus the tracks whose totals changed since the last query.
    - Exact: a row's decayed weight is kept as w * 2**((t - T0) / half-life) for a
      reference time T0, so a member's strongest say on a track never changes as time
      passes; a track's total is the exact sum (whole numbers of 2**-EXACT_BITS) of its
      members' opinions, scaled by 2**((T0 - now) / half-life) when read. Scores match the
      fit's to rounding (about 1e-15 relative); equal totals tie and are ordered as the fit
      orders them, by when the track's oldest live row was added. The one difference: the
      fit adds floats in row order, so where two totals differ only by that rounding, or
      a total is that close to zero, the fit's order (or charting) is an artefact of
      its summation order and the tally's is the exact sum's.
    - Each (member, track) keeps its rows, since a strongest say cannot be undone: a
      removal or an expiry recomputes that member's opinion from their other rows, so the
      state is exactly as if the row had never been added.
    - Time only goes forward: a `now` earlier than the tally's is taken as the tally's
      (the rows that have left the window since are gone). A row stamped after `now`
      counts as given at `now`, as in the fit: it waits aside and is counted for queries.
    - Memory: only rows inside the window (MAX_AGE_HALF_LIVES half-lives) are held, in
      typed arrays and a dict of packed (member, track) keys: about 220 bytes a live row,
      measured at 300k live rows (20k members, 50 servers), plus about 70 bytes a catalog
      track. Members and servers once seen keep their small codes.
    - Speed at that size (one core): a row added or removed in about 6 us (`add_row`; 10
      us through the column-taking `add`), a forgotten row about 6 us, `top(25)` 30-60 us
      with a server and a genre; `from_interactions` about 2 s.
    - Thread-safe: queries move tracks to their places on the charts under a lock.
    """

    def __init__(
        self,
        half_life_days: float = 7.0,
        min_users: int = 3,
        catalog: ItemCatalog | None = None,
    ) -> None:
        _check_chart_settings(half_life_days, min_users)
        self.half_life_days = float(half_life_days)
        self.min_users = min_users
        self.catalog = catalog
        self._half_life = self.half_life_days * SECONDS_PER_DAY
        self._max_age_days = MAX_AGE_HALF_LIVES * self.half_life_days
        # Queries settle the charts too: one call at a time.
        self._lock = threading.RLock()
        self._clock = -math.inf  # the `now` of the state; never goes back
        self._newest = -math.inf  # the newest time added (the default `now`, as in fit)
        self._origin = 0.0  # T0: decayed weights are relative to it
        self._user_codes: dict[str, int] = {}
        self._server_codes: dict[str, int] = {}
        # Tracks are the catalog's (by its index), or numbered as they come without one.
        self._vocab = catalog.vocab if catalog is not None else None
        self._item_codes: dict[str, int] = {}
        self._item_ids: list[str] = []
        # The stored rows, one slot each (freed slots are reused).
        self._user = array("i")
        self._item = array("i")
        self._server = array("i")  # -1 in DMs
        self._weight = array("d")
        self._time = array("d")
        self._ref = array("d")  # weight * 2**((time - T0) / half-life) while counted
        self._seq = array("q")  # the order rows were added in
        self._state = array("b")
        self._free: list[int] = []
        self._next_seq = 0
        self._counted = 0
        self._rows: dict[int, int | tuple[int, ...]] = {}  # member * KEY_STRIDE + track
        # Per member code: the tracks they hold rows of (for `remove_member`).
        self._member_items: dict[int, set[int]] = {}
        self._waiting: list[tuple[float, int]] = []  # heap of (time, slot) after now
        # Counted rows by time, to forget them as they leave the window: a queue while
        # rows come in time order, a heap for the ones that come late.
        self._queue_time = array("d")
        self._queue_slot = array("q")
        self._queue_head = 0
        self._late: list[tuple[float, int]] = []
        # Per track (by code): the exact total of its opinions, its fans, the sequence
        # numbers of its counted rows (sorted; the first breaks ties) and its chart key.
        items = len(catalog) if catalog is not None else 0
        self._total: list[int] = [0] * items
        self._fans: list[int] = [0] * items
        self._seqs: list[array[int] | None] = [None] * items
        self._seq_head: list[int] = [0] * items  # the live ones start there
        self._chart_key: list[tuple[float, int] | None] = [None] * items
        self._dirty: set[int] = set()
        self._chart = _SortedKeys()
        # Per server and track (server * KEY_STRIDE + track): (total, fans, chart key).
        self._server_tally: dict[int, tuple[int, int, tuple[float, int] | None]] = {}
        self._server_charts: dict[int, _SortedKeys] = {}
        self._dirty_servers: set[int] = set()
        self._item_genres: list[tuple[int, ...]] = [()] * items
        self._genre_charts: list[_SortedKeys] = []
        self._genre_names: list[str] = []
        self._genre_position: dict[str, int] = {}
        self._pair_genres = np.empty(0, dtype=np.int64)
        self._pair_items = np.empty(0, dtype=np.int64)
        if catalog is not None:
            self._index_genres(catalog)

    def _index_genres(self, catalog: ItemCatalog) -> None:
        # The fit knows every catalog genre (one without feedback is a quiet chart).
        names, genres, items = _genre_pairs(catalog.genres)
        self._genre_names = names
        self._genre_position = {genre_key(name): index for index, name in enumerate(names)}
        self._pair_genres, self._pair_items = genres, items
        of_item: list[list[int]] = [[] for _ in range(len(catalog))]
        for genre, item in zip(genres.tolist(), items.tolist(), strict=True):
            of_item[item].append(genre)
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}  # tracks share genre tuples
        self._item_genres = [shared.setdefault(tuple(listed), tuple(listed)) for listed in of_item]
        self._genre_charts = [_SortedKeys() for _ in names]

    @classmethod
    def from_interactions(
        cls,
        interactions: Interactions,
        groups: Sequence[str] | npt.NDArray[np.str_] | None = None,
        catalog: ItemCatalog | None = None,
        now: float | None = None,
        *,
        half_life_days: float = 7.0,
        min_users: int = 3,
    ) -> TrendingTally:
        """The tally of `interactions` at `now` (by default their newest time, as in fit),
        for start-up: one pass over the rows inside the window."""
        tally = cls(half_life_days, min_users, catalog)
        servers = np.full(len(interactions), "", dtype=object)
        if groups is not None:
            servers = np.asarray([str(group) for group in groups], dtype=object)
            if len(servers) != len(interactions):
                raise ValueError("groups must have one entry per interaction")
        timestamps = interactions.timestamps.astype(np.float64)
        now = float(now) if now is not None else float(timestamps.max(initial=0.0))
        age_days = np.maximum(now - timestamps, 0.0) / SECONDS_PER_DAY
        keep = np.flatnonzero(age_days <= tally._max_age_days)
        tally.load(
            interactions.users[keep],
            interactions.items[keep],
            servers[keep],
            interactions.weights[keep],
            timestamps[keep],
            now=now,
        )
        return tally

    def load(
        self,
        users: Sequence[str] | npt.NDArray[np.str_],
        items: Sequence[str] | npt.NDArray[np.str_],
        servers: Sequence[str] | npt.NDArray[Any],
        weights: Sequence[float] | npt.NDArray[np.float64],
        timestamps: Sequence[float] | npt.NDArray[Any],
        *,
        now: float,
    ) -> None:
        """Rows (as `add` takes them) into an empty tally, which then stands at `now`:
        counted all at once, one recount, where `add` then a first query would count
        each row on its own (seconds for a start-up's hundreds of thousands)."""
        if self.rows or self._clock != -math.inf:
            raise ValueError("load fills a new tally; add rows to one in use")
        rows = self._checked(users, items, servers, weights, timestamps)
        self.advance(now)
        with self._lock:
            self._load(rows)

    @property
    def now(self) -> float:
        """The time the tally stands at (-inf before the first `advance` or query)."""
        return self._clock

    @property
    def rows(self) -> int:
        """The rows held: inside the window, or after now."""
        return len(self._seq) - len(self._free)

    # --- rows in and out --------------------------------------------------------------------

    def add(
        self,
        users: Sequence[str] | npt.NDArray[np.str_],
        items: Sequence[str] | npt.NDArray[np.str_],
        servers: Sequence[str] | npt.NDArray[Any],
        weights: Sequence[float] | npt.NDArray[np.float64],
        timestamps: Sequence[float] | npt.NDArray[Any],
    ) -> int:
        """New feedback rows (parallel sequences; server "" in DMs; weights as
        recommender.feedback gives them). Rows of tracks outside the catalog, and rows
        already out of the window, are ignored as the fit ignores them. Returns how many
        rows were taken."""
        rows = self._checked(users, items, servers, weights, timestamps)
        with self._lock:
            return sum(self._add_row(*row) for row in rows)

    def remove(
        self,
        users: Sequence[str] | npt.NDArray[np.str_],
        items: Sequence[str] | npt.NDArray[np.str_],
        servers: Sequence[str] | npt.NDArray[Any],
        weights: Sequence[float] | npt.NDArray[np.float64],
        timestamps: Sequence[float] | npt.NDArray[Any],
    ) -> int:
        """Feedback rows that were deleted (a reaction taken back, /forget-me): the tally
        ends as if they had never been added. Each row takes back the latest-added held row
        equal to it; rows not held (out of the window already, or never added) are skipped.
        Returns how many rows were taken back."""
        rows = self._checked(users, items, servers, weights, timestamps)
        with self._lock:
            return sum(self._remove_row(*row) for row in rows)

    def remove_member(self, user: str) -> int:
        """Every row held of `user` taken back (their feedback is to be read again, or gone:
        /forget-me): as if none had been added. Returns how many rows were taken back."""
        with self._lock:
            code = self._user_codes.get(str(user))
            if code is None:
                return 0
            slots: list[int] = []
            for item in list(self._member_items.get(code, ())):
                held = self._rows[code * KEY_STRIDE + item]
                slots.extend((held,) if held.__class__ is int else held)  # type: ignore[arg-type]
            for slot in slots:
                if self._state[slot] == COUNTED:
                    self._uncount(slot)
                self._drop(slot)
            return len(slots)

    def add_row(self, user: str, item: str, server: str, weight: float, timestamp: float) -> bool:
        """`add` for one row, without building columns: whether it was taken."""
        weight, timestamp = self._checked_numbers(weight, timestamp)
        with self._lock:
            return self._add_row(str(user), str(item), str(server), weight, timestamp)

    def remove_row(
        self, user: str, item: str, server: str, weight: float, timestamp: float
    ) -> bool:
        """`remove` for one row: whether a held row was taken back."""
        weight, timestamp = self._checked_numbers(weight, timestamp)
        with self._lock:
            return self._remove_row(str(user), str(item), str(server), weight, timestamp)

    @staticmethod
    def _checked_numbers(weight: float, timestamp: float) -> tuple[float, float]:
        weight, timestamp = float(weight), float(timestamp)
        if not (math.isfinite(weight) and math.isfinite(timestamp)):
            raise ValueError("feedback weights and timestamps must be finite numbers")
        return weight, timestamp

    @staticmethod
    def _checked(
        users: Sequence[str] | npt.NDArray[np.str_],
        items: Sequence[str] | npt.NDArray[np.str_],
        servers: Sequence[str] | npt.NDArray[Any],
        weights: Sequence[float] | npt.NDArray[np.float64],
        timestamps: Sequence[float] | npt.NDArray[Any],
    ) -> Iterator[tuple[str, str, str, float, float]]:
        columns = [_listed(column) for column in (users, items, servers, weights, timestamps)]
        if len({len(column) for column in columns}) != 1:
            raise ValueError(
                "users, items, servers, weights and timestamps must have the same length"
            )
        numbers = [float(value) for value in columns[3]], [float(value) for value in columns[4]]
        if not all(map(math.isfinite, chain(*numbers))):
            raise ValueError("feedback weights and timestamps must be finite numbers")
        return zip(
            map(str, columns[0]), map(str, columns[1]), map(str, columns[2]), *numbers, strict=True
        )

    def _add_row(self, user: str, item: str, server: str, weight: float, time: float) -> bool:
        code = self._code_of(item, new=True)
        if code is None:
            return False
        if (self._clock - time) / SECONDS_PER_DAY > self._max_age_days:
            return False  # out of the window already (the fit's test, to the rounding)
        slot = self._store(user, code, server, weight, time)
        if time > self._newest:
            self._newest = time
        if time > self._clock:
            heappush(self._waiting, (time, slot))
        else:
            self._count(slot, time)
            self._enqueue(slot, time)
        return True

    def _load(self, rows: Iterable[tuple[str, str, str, float, float]]) -> None:
        """Rows into an empty tally standing at its `now`, counted all at once: start-up."""
        counted: list[int] = []
        clock, limit, seqs = self._clock, self._max_age_days, self._seqs
        for user, item, server, weight, time in rows:
            code = self._code_of(item, new=True)
            if code is None:
                continue
            if (clock - time) / SECONDS_PER_DAY > limit:
                continue
            slot = self._store(user, code, server, weight, time)
            self._newest = max(self._newest, time)
            if time > clock:
                heappush(self._waiting, (time, slot))
                continue
            self._state[slot] = COUNTED
            counted.append(slot)
            held = seqs[code]
            if held is None:
                seqs[code] = array("q", (self._seq[slot],))
            else:
                held.append(self._seq[slot])  # slots are stored in the order rows came
        counted.sort(key=self._time.__getitem__)
        self._queue_time.extend(self._time[slot] for slot in counted)
        self._queue_slot.extend(counted)
        self._counted += len(counted)
        self._recount()

    def _remove_row(self, user: str, item: str, server: str, weight: float, time: float) -> bool:
        user_code = self._user_codes.get(user)
        code = self._code_of(item, new=False)
        server_code = -1 if server == "" else self._server_codes.get(server)
        if user_code is None or code is None or server_code is None:
            return False
        held = self._rows.get(user_code * KEY_STRIDE + code)
        found, latest = -1, -1
        for slot in () if held is None else (held,) if held.__class__ is int else held:
            if (
                self._server[slot] == server_code
                and self._weight[slot] == weight
                and self._time[slot] == time
                and self._seq[slot] > latest
            ):
                found, latest = slot, self._seq[slot]
        if found < 0:
            return False
        if self._state[found] == COUNTED:
            self._uncount(found)
        self._drop(found)  # a waiting row's heap entry goes stale: its slot is no longer waiting
        return True

    def _code_of(self, item: str, *, new: bool) -> int | None:
        """The track's code; None outside the catalog (the fit ignores those rows)."""
        if self._vocab is not None:
            code = self._vocab.index(item)
            return code if code >= 0 else None
        code = self._item_codes.get(item)
        return self._new_item(item) if code is None and new else code

    def _item_id(self, code: int) -> str:
        return self._vocab.id_of(code) if self._vocab is not None else self._item_ids[code]

    def _new_item(self, item: str) -> int:
        code = self._item_codes[item] = len(self._item_ids)
        self._item_ids.append(item)
        self._total.append(0)
        self._fans.append(0)
        self._seqs.append(None)
        self._seq_head.append(0)
        self._chart_key.append(None)
        self._item_genres.append(())
        return code

    def _expired(self, time: float, now: float) -> bool:
        # The fit's test, to the rounding: age_days = (now - t) / day <= max age.
        return (now - time) / SECONDS_PER_DAY > self._max_age_days

    def _store(self, user: str, item: int, server: str, weight: float, time: float) -> int:
        """Holds a row, waiting (not counted yet); returns its slot."""
        user_code = self._user_codes.get(user)
        if user_code is None:
            user_code = self._user_codes[user] = len(self._user_codes)
        server_code = -1 if server == "" else self._server_codes.get(server)
        if server_code is None:
            server_code = self._server_codes[server] = len(self._server_codes)
        seq = self._next_seq
        self._next_seq = seq + 1
        if self._free:
            slot = self._free.pop()
            self._user[slot] = user_code
            self._item[slot] = item
            self._server[slot] = server_code
            self._weight[slot] = weight
            self._time[slot] = time
            self._seq[slot] = seq
            self._state[slot] = WAITING
        else:
            slot = len(self._seq)
            self._user.append(user_code)
            self._item.append(item)
            self._server.append(server_code)
            self._weight.append(weight)
            self._time.append(time)
            self._ref.append(0.0)
            self._seq.append(seq)
            self._state.append(WAITING)
        key = user_code * KEY_STRIDE + item
        held = self._rows.get(key)
        if held is None:
            self._rows[key] = slot
            self._member_items.setdefault(user_code, set()).add(item)
        elif held.__class__ is int:
            self._rows[key] = (held, slot)
        else:
            self._rows[key] = (*held, slot)
        return slot

    def _drop(self, slot: int) -> None:
        key = self._user[slot] * KEY_STRIDE + self._item[slot]
        held = self._rows[key]
        if held.__class__ is int:
            del self._rows[key]
            items = self._member_items[self._user[slot]]
            items.discard(self._item[slot])
            if not items:
                del self._member_items[self._user[slot]]
        else:
            rest = tuple(other for other in held if other != slot)
            self._rows[key] = rest[0] if len(rest) == 1 else rest
        self._state[slot] = FREE
        self._seq[slot] = -1
        self._free.append(slot)

    def _enqueue(self, slot: int, time: float) -> None:
        if self._queue_head < len(self._queue_time) and time < self._queue_time[-1]:
            heappush(self._late, (time, slot))
        else:
            self._queue_time.append(time)
            self._queue_slot.append(slot)

    # --- opinions and totals ----------------------------------------------------------------

    def _opinions(self, rows: tuple[int, ...], server: int) -> tuple[float, float]:
        """The member's opinion (strongest positive plus strongest negative counted say,
        in reference units) over all their rows, and over the rows in `server`."""
        best = worst = best_here = worst_here = 0.0
        state, ref, where = self._state, self._ref, self._server
        for slot in rows:
            if state[slot] != COUNTED:
                continue
            value = ref[slot]
            if value > best:
                best = value
            elif value < worst:
                worst = value
            if where[slot] == server:
                if value > best_here:
                    best_here = value
                elif value < worst_here:
                    worst_here = value
        return best + worst, best_here + worst_here

    def _count(self, slot: int, time: float) -> None:
        """Counts a held row as given at `time`."""
        item, server = self._item[slot], self._server[slot]
        rows = self._rows[self._user[slot] * KEY_STRIDE + item]
        value = self._weight[slot] * 2.0 ** ((time - self._origin) / self._half_life)
        if rows.__class__ is int:  # the member's only row on the track
            self._ref[slot] = value
            self._state[slot] = COUNTED
            self._account(item, server, 0.0, value, 0.0, value)
        else:
            before, before_here = self._opinions(rows, server)
            self._ref[slot] = value
            self._state[slot] = COUNTED
            after, after_here = self._opinions(rows, server)
            self._account(item, server, before, after, before_here, after_here)
        self._counted += 1
        self._add_seq(item, self._seq[slot])

    def _uncount(self, slot: int) -> None:
        item, server = self._item[slot], self._server[slot]
        rows = self._rows[self._user[slot] * KEY_STRIDE + item]
        if rows.__class__ is int:
            self._state[slot] = WAITING
            value = self._ref[slot]
            self._account(item, server, value, 0.0, value, 0.0)
        else:
            before, before_here = self._opinions(rows, server)
            self._state[slot] = WAITING
            after, after_here = self._opinions(rows, server)
            self._account(item, server, before, after, before_here, after_here)
        self._counted -= 1
        self._drop_seq(item, self._seq[slot])

    def _add_seq(self, item: int, seq: int) -> None:
        seqs = self._seqs[item]
        if seqs is None:
            self._seqs[item] = array("q", (seq,))
            self._seq_head[item] = 0
        elif seq > seqs[-1]:
            seqs.append(seq)
        else:
            head = self._seq_head[item]
            if head and seq < seqs[head]:
                seqs[head - 1] = seq
                self._seq_head[item] = head - 1
            else:
                insort(seqs, seq, head)

    def _drop_seq(self, item: int, seq: int) -> None:
        # The oldest row goes first as a rule (rows leave the window in time order): the
        # head moves up, and the array is cut once half of it lies before the head.
        seqs = self._seqs[item]
        assert seqs is not None
        head = self._seq_head[item]
        index = bisect_left(seqs, seq, head)
        if index != head:
            del seqs[index]
            return
        head += 1
        if head == len(seqs):
            self._seqs[item] = None
            head = 0
        elif head >= 16 and 2 * head >= len(seqs):
            del seqs[:head]
            head = 0
        self._seq_head[item] = head

    def _account(
        self,
        item: int,
        server: int,
        before: float,
        after: float,
        before_here: float,
        after_here: float,
    ) -> None:
        """A member's opinion of `item` went from `before` to `after` (and in `server`,
        -1 for a DM, from `before_here` to `after_here`)."""
        change = 0
        if before != after:
            change = (_exact(after) if after else 0) - (_exact(before) if before else 0)
            self._total[item] += change
            self._fans[item] += (after > 0) - (before > 0)
            self._dirty.add(item)
        if server >= 0 and before_here != after_here:
            if before_here != before or after_here != after:  # rows in other places too
                change = (_exact(after_here) if after_here else 0) - (
                    _exact(before_here) if before_here else 0
                )
            packed = server * KEY_STRIDE + item
            total, fans, key = self._server_tally.get(packed, _NO_TALLY)
            fans += (after_here > 0) - (before_here > 0)
            self._server_tally[packed] = (total + change, fans, key)
            self._dirty_servers.add(packed)

    # --- time -------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Moves the tally to `now`: rows that left the window are forgotten, rows whose
        time has come are counted. An earlier `now` than the tally's changes nothing."""
        now = float(now)
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite time, got {now!r}")
        with self._lock:
            if now > self._clock:
                self._advance(now)

    def _advance(self, now: float) -> None:
        if self._clock == -math.inf:
            self._origin = now
        self._clock = now
        self._expire()
        if (now - self._origin) / self._half_life > REBASE_HALF_LIVES:
            self._origin = now
            self._recount()
        self._admit()

    def _expire(self) -> None:
        now, limit = self._clock, self._max_age_days
        times, slots = self._queue_time, self._queue_slot
        head = self._queue_head
        while head < len(times) and (now - times[head]) / SECONDS_PER_DAY > limit:
            self._forget(slots[head], times[head])
            head += 1
        if head == len(times):
            del times[:], slots[:]
            head = 0
        elif head > 4096 and 2 * head > len(times):
            del times[:head], slots[:head]
            head = 0
        self._queue_head = head
        late = self._late
        while late and (now - late[0][0]) / SECONDS_PER_DAY > limit:
            time, slot = heappop(late)
            self._forget(slot, time)

    def _forget(self, slot: int, time: float) -> None:
        # A stale entry (the row was removed) is skipped, unless its slot now holds a row
        # of the same time: that one has left the window too.
        if self._state[slot] == COUNTED and self._time[slot] == time:
            self._uncount(slot)
            self._drop(slot)

    def _admit(self) -> None:
        """Counts the waiting rows whose time has come (or drops them if, by now, they
        have left the window already)."""
        waiting, now = self._waiting, self._clock
        due: list[int] = []
        while waiting and waiting[0][0] <= now:
            time, slot = heappop(waiting)
            if self._state[slot] != WAITING or self._time[slot] != time:
                continue
            if self._expired(time, now):
                self._drop(slot)
                continue
            self._state[slot] = ADMITTING
            due.append(slot)
        if len(due) >= BULK_ROWS and 4 * len(due) >= self._counted:
            self._admit_in_bulk(due)
        else:
            for slot in due:
                self._state[slot] = WAITING
                self._count(slot, self._time[slot])
        for slot in due:
            self._enqueue(slot, self._time[slot])

    def _admit_in_bulk(self, due: list[int]) -> None:
        new_seqs: dict[int, list[int]] = {}
        for slot in due:
            self._state[slot] = COUNTED
            new_seqs.setdefault(self._item[slot], []).append(self._seq[slot])
        self._counted += len(due)
        for item, seqs in new_seqs.items():
            held = self._seqs[item]
            if held is not None:
                seqs.extend(held[self._seq_head[item] :])
            self._seqs[item] = array("q", sorted(seqs))
            self._seq_head[item] = 0
        self._recount()

    def _recount(self) -> None:
        """Every decayed weight, total, fan count and chart from the counted rows: after
        the reference time moved, or to count many rows at once. O(live rows)."""
        items = len(self._total)
        total, fans = [0] * items, [0] * items
        servers: dict[int, tuple[int, int, None]] = {}
        state, ref, weight, time, where = (
            self._state,
            self._ref,
            self._weight,
            self._time,
            self._server,
        )
        origin, half_life, mask = self._origin, self._half_life, KEY_STRIDE - 1
        for key, held in self._rows.items():
            item = key & mask
            if held.__class__ is int:  # one row: the opinion is its say
                if state[held] != COUNTED:
                    continue
                value = ref[held] = weight[held] * 2.0 ** ((time[held] - origin) / half_life)
                if not value:
                    continue
                units, fan = _exact(value), value > 0
                total[item] += units
                fans[item] += fan
                if where[held] >= 0:
                    packed = where[held] * KEY_STRIDE + item
                    tally = servers.get(packed, _NO_TALLY)
                    servers[packed] = (tally[0] + units, tally[1] + fan, None)
                continue
            places = set()
            for slot in held:
                if state[slot] == COUNTED:
                    ref[slot] = weight[slot] * 2.0 ** ((time[slot] - origin) / half_life)
                    if where[slot] >= 0:
                        places.add(where[slot])
            opinion = self._opinions(held, -1)[0]
            if opinion:
                total[item] += _exact(opinion)
                fans[item] += opinion > 0
            for server in places:
                opinion = self._opinions(held, server)[1]
                if opinion:
                    packed = server * KEY_STRIDE + item
                    tally = servers.get(packed, _NO_TALLY)
                    servers[packed] = (tally[0] + _exact(opinion), tally[1] + (opinion > 0), None)
        self._total, self._fans = total, fans
        self._dirty.clear()
        self._dirty_servers.clear()
        self._chart_key = [None] * items
        by_genre: list[list[tuple[float, int]]] = [[] for _ in self._genre_charts]
        keys = []
        for item in range(items):
            key = self._key(total[item], fans[item], item)
            if key is not None:
                keys.append(key)
                self._chart_key[item] = key
                for genre in self._item_genres[item]:
                    by_genre[genre].append(key)
        self._chart = _SortedKeys(keys)
        self._genre_charts = [_SortedKeys(listed) for listed in by_genre]
        by_server: dict[int, list[tuple[float, int]]] = {}
        charted: dict[int, tuple[int, int, tuple[float, int] | None]] = {}
        for packed, (server_total, server_fans, _) in servers.items():
            server, item = divmod(packed, KEY_STRIDE)
            key = self._key(server_total, server_fans, item)
            charted[packed] = (server_total, server_fans, key)
            if key is not None:
                by_server.setdefault(server, []).append(key)
        self._server_tally = charted
        self._server_charts = {server: _SortedKeys(listed) for server, listed in by_server.items()}

    def _key(self, total: int, fans: int, item: int) -> tuple[float, int] | None:
        """A track's place on a chart (sorted ascending), or None when it does not chart."""
        if total > 0 and fans >= self.min_users:
            return (-(total / EXACT_ONE), item)
        return None

    def _settle(self) -> None:
        """Moves the tracks whose totals changed to their new places."""
        for item in self._dirty:
            key = self._key(self._total[item], self._fans[item], item)
            old = self._chart_key[item]
            if key == old:
                continue
            charts = [
                self._chart,
                *(self._genre_charts[genre] for genre in self._item_genres[item]),
            ]
            for chart in charts:
                if old is not None:
                    chart.remove(old)
                if key is not None:
                    chart.add(key)
            self._chart_key[item] = key
        self._dirty.clear()
        for packed in self._dirty_servers:
            total, fans, old = self._server_tally[packed]
            server, item = divmod(packed, KEY_STRIDE)
            key = self._key(total, fans, item)
            if key != old:
                chart = self._server_charts.get(server)
                if chart is None:
                    chart = self._server_charts[server] = _SortedKeys()
                if old is not None:
                    chart.remove(old)
                if key is not None:
                    chart.add(key)
                elif not chart:
                    del self._server_charts[server]
            if total == 0 and fans == 0:
                del self._server_tally[packed]
            elif key != old:
                self._server_tally[packed] = (total, fans, key)
        self._dirty_servers.clear()

    # --- queries ----------------------------------------------------------------------------

    def top(
        self,
        k: int = 10,
        guild: str | None = None,
        genre: str | None = None,
        *,
        now: float | None = None,
    ) -> list[ChartEntry]:
        """`FeedbackTrending.top` at `now` (advancing the tally there; by default where it
        stands, or at the newest row before any time was given)."""
        k = check_k(k)
        with self._lock:
            self._advance_for_query(now)
            future = self._count_future()
            try:
                self._settle()
                return self._top(k, guild, genre)
            finally:
                for slot in future:
                    self._uncount(slot)

    @property
    def servers(self) -> list[str]:
        """The servers with a chart of their own (at the tally's `now`)."""
        with self._lock:
            self._advance_for_query(None)
            future = self._count_future()
            try:
                self._settle()
                names = {code: name for name, code in self._server_codes.items()}
                return sorted(names[code] for code in self._server_charts)
            finally:
                for slot in future:
                    self._uncount(slot)

    def _advance_for_query(self, now: float | None) -> None:
        if now is not None:
            self.advance(now)
        elif self._clock == -math.inf and self._newest > -math.inf:
            self.advance(self._newest)

    def _count_future(self) -> list[int]:
        """Counts the rows after now as given now (the fit's age is never below 0)."""
        future = []
        for time, slot in self._waiting:
            if self._state[slot] == WAITING and self._time[slot] == time:
                self._count(slot, self._clock)
                future.append(slot)
        return future

    def _top(self, k: int, guild: str | None, genre: str | None) -> list[ChartEntry]:
        position = self._genre(genre) if genre is not None else None
        scale = 2.0 ** ((self._origin - self._clock) / self._half_life) if self._counted else 0.0
        entries = self._server_entries(str(guild), k, position, scale) if guild is not None else []
        lonely = guild is not None and not entries
        taken = {entry.item for entry in entries}
        chart = self._chart if position is None else self._genre_charts[position]
        for score, item in self._leaders(chart, k, scale):
            if len(entries) == k:
                break
            identifier = self._item_id(item)
            if identifier in taken:
                continue
            fans = _listeners(self._fans[item], "listener")
            why = f"trending across Earworm: {fans} liked it recently"
            if lonely:
                why = f"{why} ({LONELY_SERVER_NOTE})"
            entries.append(ChartEntry(identifier, score, why, EARWORM_CHART))
        return entries

    def _genre(self, genre: str) -> int:
        if self.catalog is None:
            raise UnknownGenreError(genre, [], close=False)
        found = self._genre_position.get(genre_key(genre))
        if found is None:
            # The fit's suggestions: its genre sizes count the tracks with feedback.
            present = np.asarray([seqs is not None for seqs in self._seqs], dtype=bool)
            keep = present[self._pair_items]
            lists = GenreLists.from_pairs(
                self._genre_names, self._pair_genres[keep], self._pair_items[keep]
            )
            suggestions, close = lists.suggest(genre)
            raise UnknownGenreError(genre, suggestions, close=close)
        return found

    def _server_entries(
        self, server: str, k: int, position: int | None, scale: float
    ) -> list[ChartEntry]:
        code = self._server_codes.get(server)
        chart = self._server_charts.get(code) if code is not None else None
        if not chart or code is None:
            return []
        genres = self._item_genres
        keep = None if position is None else (lambda item: position in genres[item])
        entries = []
        for score, item in self._leaders(chart, k, scale, keep):
            fans = _listeners(self._server_tally[code * KEY_STRIDE + item][1], "member")
            why = f"popular in this server: {fans} liked it recently"
            entries.append(ChartEntry(self._item_id(item), score, why, SERVER_CHART))
        return entries

    def _leaders(
        self,
        chart: _SortedKeys,
        k: int,
        scale: float,
        keep: Callable[[int], bool] | None = None,
    ) -> list[tuple[float, int]]:
        """The first k (score at now, track) of a chart, ties broken as the fit breaks
        them: by the order in which each track's oldest live row was added."""
        picked: list[tuple[float, int]] = []
        cut = math.nan
        for key in chart:
            item = key[1]
            if keep is not None and not keep(item):
                continue
            score = -key[0] * scale
            if len(picked) >= k and score != cut:
                break
            picked.append((score, item))
            if len(picked) == k:
                cut = score
        if len(picked) > 1:
            first = self._first_seq
            picked.sort(key=lambda pair: (-pair[0], first(pair[1])))
        return picked[:k]

    def _first_seq(self, item: int) -> int:
        """When the track's oldest live row was added: the fit's tie-break (its track
        index is the order in which tracks first appear among the rows)."""
        seqs = self._seqs[item]
        assert seqs is not None  # a charting track has counted rows
        return seqs[self._seq_head[item]]


# --- what /trending shows -------------------------------------------------------------------


def trending_chart(
    k: int,
    catalog_chart: CatalogTrending,
    feedback_chart: FeedbackTrending | TrendingTally | None = None,
    *,
    guild: str | None = None,
    genre: str | None = None,
) -> list[ChartEntry]:
    """The server's chart, then Earworm's, then the catalog's, k entries in all (fewer
    only when the catalog runs out). The genre is checked against the catalog first, so an
    unknown genre raises UnknownGenreError with the catalog's suggestions."""
    k = check_k(k)
    genre = catalog_chart.genre_name(genre) if genre is not None else None
    entries = feedback_chart.top(k, guild=guild, genre=genre) if feedback_chart else []
    if len(entries) == k:
        return entries
    taken = {entry.item for entry in entries}
    lonely = guild is not None and all(entry.chart != SERVER_CHART for entry in entries)
    # k candidates suffice: at most len(entries) of them are listed already.
    for entry in catalog_chart.top(k, genre=genre):
        if len(entries) == k:
            break
        if entry.item not in taken:
            why = f"{entry.reason} ({LONELY_SERVER_NOTE})" if lonely else entry.reason
            entries.append(ChartEntry(entry.item, entry.score, why, entry.chart))
    return entries
