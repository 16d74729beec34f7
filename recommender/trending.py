"""Trending charts: what `/trending` shows.

Two models, both plain `Recommender`s, so they save, load and recommend like the others:

- `CatalogTrending` needs no feedback: the most popular tracks of the most popular artists
  in the catalog, at most `per_artist` per artist and one version of each song, overall or
  within a genre. It is the chart of a fresh install.
- `FeedbackTrending` ranks what members liked lately. Every opinion fades with its age
  (half-life 7 days), a member's say on a track is capped at their strongest opinion of it,
  and a track needs `min_users` distinct fans before it can chart, so one person cannot
  push a track to the top. It keeps a chart per Discord server and one across Earworm.

`trending_chart` is what the command shows: the server's chart, topped up from Earworm's,
then from the catalog's, each entry saying which chart it came from.
"""

from __future__ import annotations

import copy
import difflib
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
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
        users = Vocabulary(arrays["seen_users"].tolist())
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
        model._items = Vocabulary(arrays["items"].tolist())
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
        if not (isinstance(half_life_days, int | float) and math.isfinite(half_life_days)):
            raise ValueError(f"half_life_days must be a number, got {half_life_days!r}")
        if half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days}")
        if isinstance(min_users, bool) or not isinstance(min_users, int) or min_users < 1:
            raise ValueError(f"min_users must be a positive integer, got {min_users!r}")
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
        model._items = Vocabulary(arrays["items"].tolist())
        model._scores = arrays["scores"]
        model._fans = arrays["fans"]
        model._chart = arrays["chart"]
        model._servers = Vocabulary(arrays["servers"].tolist())
        model._server_indptr = arrays["server_indptr"]
        model._server_items = arrays["server_items"]
        model._server_scores = arrays["server_scores"]
        model._server_fans = arrays["server_fans"]
        model._genres = GenreLists.from_arrays(arrays) if params["has_genres"] else None
        model._seen = SeenItems.from_arrays(arrays, len(model._items))
        return model


# --- what /trending shows -------------------------------------------------------------------


def trending_chart(
    k: int,
    catalog_chart: CatalogTrending,
    feedback_chart: FeedbackTrending | None = None,
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
