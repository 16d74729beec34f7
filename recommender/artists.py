"""Artist relations: which artists are played alongside which, from co-occurrence.

A *basket* is anything that holds artists together: one of the public playlists the
catalog files come from, or one member's likes and plays. Two artists are related when they
share baskets more often than their own frequencies predict: normalised pointwise mutual
information, NPMI(a, b) = log(p_ab / (p_a p_b)) / -log(p_ab), cut at 0 and damped by how
few baskets the pair shares (c_ab / (c_ab + shrink)). Each artist keeps its `neighbours`
strongest relations: a sparse matrix, saved as plain arrays (recommender/artifacts.py).

Plain co-occurrence was chosen over SVD of PPMI, ALS factors and item2vec: it scored as
well or better on held-out playlists and on an outside Last.fm check, fits in a fraction of
a second and says exactly why two artists are related (docs/benchmarks.md, "Similar
tracks in style"). Cosine (c_ab / (sqrt(n_a n_b) + shrink)) is kept as `method="cosine"`.

Artists are named by their folded name (`artist_key`, the catalog importer's rule), so
relations fitted on one catalog relate the same artists in the next. An artist in no
basket (nobody has played them, a one-track artist in no playlist) has no relation: the
style similarity (recommender/style.py) then places it by genre and era alone.

As a recommender (the nightly run's "artists" kind), a member's score for a track is the
weighted mean relation of its main artist to the artists the member liked or played (an
artist relates to itself with 1): the learning loop measures it on held-out feedback like
every other kind. Every user of `interactions` is a basket (their positive rows); the
playlists given at construction are baskets too, but never users.

In the hybrid's blend (recommender/hybrid.py, group "artists") it is "more from the
artists you keep coming back to, and from artists played alongside them". There an artist
relates to itself only once `favourite_from` (2) of the member's liked or played tracks
are theirs: one liked song is too little to fill their picks with the same artist, a
history that plays several of an artist's songs is not. A track whose artist relates to
none of the member's is left unscored there (`related_only`): the blend then ranks it
with the component's least likely, instead of z-scoring a catalog of near-zeros (which
would blow every related track up to the top whatever its weight).
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.base import Recommendation, Recommender, check_k, top_k
from recommender.data import Interactions, ItemCatalog, row_items, seen_and_liked
from recommender.vocab import Vocabulary

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

METHODS = ("npmi", "cosine")
SAME_ARTIST = 1.0  # an artist's relation to itself
# Below this a relation says too little to be named in a reason.
NAMED_RELATION = 0.05
# Scores of tracks equally related are ordered by popularity, by less than any relation.
POPULARITY_TIE_BREAK = 1e-6
# In the hybrid's blend: an artist relates to itself from this many of the member's tracks.
BLEND_FAVOURITE_FROM = 2


def artist_key(name: str) -> str:
    """The folded name artists are matched on (case, width and spaces folded): the same
    rule as the catalog importer's, so "Queen" and "QUEEN " are one artist."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(frozen=True)
class Playlists:
    """(track id, playlist id) rows: which catalog tracks each public playlist holds."""

    tracks: npt.NDArray[np.str_]
    playlists: npt.NDArray[np.str_]

    def __post_init__(self) -> None:
        if len(self.tracks) != len(self.playlists):
            raise ValueError("tracks and playlists must have the same length")

    @classmethod
    def of(cls, tracks: Sequence[str], playlists: Sequence[str]) -> Playlists:
        return cls(
            np.asarray(list(tracks), dtype=np.str_).reshape(-1),
            np.asarray(list(playlists), dtype=np.str_).reshape(-1),
        )

    @classmethod
    def empty(cls) -> Playlists:
        return cls.of([], [])

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def count(self) -> int:
        """How many distinct playlists."""
        return len(np.unique(self.playlists))

    def without(self, playlists: Sequence[str]) -> Playlists:
        """These rows minus every row of `playlists` (held out of what is fitted)."""
        keep = ~np.isin(self.playlists, np.asarray(list(playlists), dtype=np.str_))
        return Playlists(self.tracks[keep], self.playlists[keep])

    def only(self, playlists: Sequence[str]) -> Playlists:
        keep = np.isin(self.playlists, np.asarray(list(playlists), dtype=np.str_))
        return Playlists(self.tracks[keep], self.playlists[keep])


@dataclass(frozen=True)
class Neighbour:
    """One related artist: its key, display name and relation (0, 1]."""

    key: str
    name: str
    score: float


class ArtistRelations(Recommender):
    """Each artist's strongest related artists (see the module docstring)."""

    kind = "artists"

    def __init__(
        self,
        seed: int = 0,
        method: str = "npmi",
        neighbours: int = 100,
        shrink: float = 2.0,
        max_basket: int = 100,
        playlists: Playlists | None = None,
        favourite_from: int = 1,
        related_only: bool = False,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        if shrink < 0:
            raise ValueError("shrink must not be negative")
        if max_basket < 2:
            raise ValueError("max_basket must be at least 2")
        if isinstance(favourite_from, bool) or not isinstance(favourite_from, int):
            raise ValueError(f"favourite_from must be a whole number, got {favourite_from!r}")
        if favourite_from < 1:
            raise ValueError("favourite_from must be at least 1")
        self.seed = int(seed)
        self.method = method
        self.neighbours = int(neighbours)
        self.shrink = float(shrink)
        self.max_basket = int(max_basket)
        self.playlists = playlists
        self.favourite_from = favourite_from
        self.related_only = bool(related_only)
        self._artists = Vocabulary([])  # artist keys
        self._names: list[str] = []
        self._relations = sp.csr_matrix((0, 0), dtype=np.float32)  # artists x artists
        self._basket_counts = np.zeros(0, dtype=np.int64)
        self._items = Vocabulary([])
        self._item_artist = np.zeros(0, dtype=np.int64)  # -1: no known artist
        self._popularity = np.zeros(0, dtype=np.float64)
        self._derive_items()
        self._users = Vocabulary([])
        self._profiles = sp.csr_matrix((0, 0), dtype=np.float32)  # users x artists
        # users x artists: how many different tracks of the artist the user liked or played
        self._profile_tracks = sp.csr_matrix((0, 0), dtype=np.float32)
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)  # users x items
        self._liked = sp.csr_matrix((0, 0), dtype=np.float32)  # users x items, positive only
        self._played: frozenset[str] = frozenset()  # tracks only listened to (reasons)
        self._report: dict[str, Any] = {}

    # --- fitting --------------------------------------------------------------------------

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        if catalog is None:
            raise ValueError("artist relations need the item catalog (its artists)")
        self._set_catalog(catalog)
        # Baskets: every member (their liked or played tracks), then every playlist.
        positive = interactions.subset(interactions.weights > 0)
        member_items = self._items.indices(positive.items)
        known = member_items >= 0
        member_baskets = np.unique(positive.users[known], return_inverse=True)[1]
        playlists = self.playlists if self.playlists is not None else Playlists.empty()
        playlist_items = self._items.indices(playlists.tracks)
        listed = playlist_items >= 0
        names, playlist_baskets = np.unique(playlists.playlists[listed], return_inverse=True)
        offset = int(member_baskets.max()) + 1 if len(member_baskets) else 0
        items = np.concatenate([member_items[known], playlist_items[listed]])
        baskets = np.concatenate([member_baskets, playlist_baskets + offset]).astype(np.int64)
        weights = np.concatenate([positive.weights[known], np.ones(int(listed.sum()))])
        artists = self._item_artist[items]
        has_artist = artists >= 0
        self._fit_relations(artists[has_artist], baskets[has_artist], weights[has_artist])
        self._fit_users(interactions)
        self._report = {
            "method": self.method,
            "artists": len(self._artists),
            "related_artists": int((np.diff(self._relations.indptr) > 0).sum()),
            "relations": int(self._relations.nnz),
            "member_baskets": offset,
            "playlist_baskets": len(names),
            "playlist_rows": int(listed.sum()),
        }
        return self

    def _set_catalog(self, catalog: ItemCatalog) -> None:
        keys = [artist_key(catalog.main_artist(i)) for i in range(len(catalog))]
        self._artists = Vocabulary(key for key in keys if key)
        first_name: dict[str, str] = {}
        for index, key in enumerate(keys):
            if key:
                first_name.setdefault(key, catalog.main_artist(index))
        self._names = [first_name[key] for key in self._artists.ids.tolist()]
        self._items = catalog.vocab
        self._item_artist = np.asarray(
            [self._artists.index(key) if key else -1 for key in keys], dtype=np.int64
        )
        self._popularity = np.nan_to_num(np.asarray(catalog.popularity, dtype=np.float64), nan=0.0)
        self._derive_items()

    def _derive_items(self) -> None:
        """Per item its tie-break, and per artist its items (a CSR-like index): what every
        member's scores read, worked out once."""
        self._tie = POPULARITY_TIE_BREAK * self._popularity / 100.0
        self._with_artist = np.flatnonzero(self._item_artist >= 0)
        artists = self._item_artist[self._with_artist]
        self._artist_items = self._with_artist[np.argsort(artists, kind="stable")]
        counts = np.bincount(artists, minlength=len(self._artists))
        self._artist_items_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _fit_relations(self, artists: IntArray, baskets: IntArray, weights: FloatArray) -> None:
        count = len(self._artists)
        if len(artists) == 0:
            self._relations = sp.csr_matrix((count, count), dtype=np.float32)
            self._basket_counts = np.zeros(count, dtype=np.int64)
            return
        matrix = sp.csr_matrix((weights, (artists, baskets)), shape=(count, int(baskets.max()) + 1))
        matrix.sum_duplicates()
        matrix.data = np.log1p(matrix.data)  # one heavy listener is not a hundred baskets
        matrix = _cap_baskets(matrix, self.max_basket, self.seed)
        binary = (matrix > 0).astype(np.float64).tocsr()
        self._basket_counts = np.asarray(binary.sum(axis=1)).ravel().astype(np.int64)
        scores = _cooccurrence(binary, self.method, self.shrink)
        self._relations = _strongest(scores, self.neighbours)

    def _fit_users(self, interactions: Interactions) -> None:
        in_catalog = self._items.indices(interactions.items) >= 0
        known = interactions.subset(in_catalog)
        self._users = known.user_vocab
        self._seen, positive = seen_and_liked(known.matrix(self._users, self._items), np.float64)
        self._liked = positive
        liked = positive.tocoo()
        artists = self._item_artist[liked.col]
        has = artists >= 0  # `positive` holds only positive weights
        shape = (len(self._users), len(self._artists))
        rows, columns = liked.row[has], artists[has]
        profiles = sp.csr_matrix((liked.data[has], (rows, columns)), shape=shape)
        profiles.sum_duplicates()
        self._profiles = profiles.astype(np.float32)
        # One entry per (user, track) in the matrix: summing ones counts different tracks.
        tracks = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)
        tracks.sum_duplicates()
        self._profile_tracks = tracks

    def with_users(
        self, interactions: Interactions, played: Collection[str] = ()
    ) -> ArtistRelations:
        """The same relations serving the users of `interactions` (typically one member
        and their feedback and plays): O(their rows), the relations and items shared.
        `played`: tracks they only listened to, which reasons name as played."""
        twin = copy.copy(self)
        twin._played = frozenset(played)
        twin._fit_users(interactions)
        return twin

    def serving_blend(self) -> ArtistRelations:
        """These relations as the hybrid's "artists" component (module docstring)."""
        twin = copy.copy(self)
        twin.favourite_from = max(self.favourite_from, BLEND_FAVOURITE_FROM)
        twin.related_only = True
        return twin

    # --- reading --------------------------------------------------------------------------

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    @property
    def artist_keys(self) -> npt.NDArray[np.str_]:
        return self._artists.ids

    @property
    def report(self) -> dict[str, Any]:
        """What fitting found: artists, related artists, relations, baskets of each kind."""
        return dict(self._report)

    def name_of(self, key: str) -> str:
        index = self._artists.index(key)
        return self._names[index] if index >= 0 else key

    def baskets_of(self, key: str) -> int:
        """How many baskets the artist was seen in (0: unknown or never played)."""
        index = self._artists.index(key)
        return int(self._basket_counts[index]) if index >= 0 else 0

    def neighbours_of(self, key: str, k: int = 10) -> list[Neighbour]:
        """The artist's `k` most related artists, strongest first (none when unknown)."""
        index = self._artists.index(key)
        if index < 0:
            return []
        columns, scores = _row(self._relations, index)
        return [
            Neighbour(str(self._artists.ids[c]), self._names[c], float(s))
            for c, s in zip(columns[:k].tolist(), scores[:k].tolist(), strict=True)
        ]

    def relation(self, a: str, b: str) -> float:
        """The relation of two artists by key: 1 for the same, 0 when unrelated or unknown."""
        if a == b:
            return SAME_ARTIST if a in self._artists else 0.0
        columns, scores = _row(self._relations, self._artists.index(a))
        hit = np.flatnonzero(columns == self._artists.index(b))
        return float(scores[hit[0]]) if len(hit) else 0.0

    def matrix_for(self, keys: Sequence[str]) -> sp.csr_matrix:
        """The relations between `keys` (in that order): a len(keys) x len(keys) CSR
        matrix, no diagonal; artists this model does not know relate to nothing."""
        size = len(keys)
        if len(self._artists) == 0 or size == 0:
            return sp.csr_matrix((size, size), dtype=np.float32)
        position = np.full(len(self._artists), -1, dtype=np.int64)
        ours = self._artists.indices(list(keys))
        found = ours >= 0
        position[ours[found]] = np.flatnonzero(found)
        coo = self._relations.tocoo()
        rows, cols = position[coo.row], position[coo.col]
        keep = (rows >= 0) & (cols >= 0)
        return sp.csr_matrix(
            (coo.data[keep], (rows[keep], cols[keep])), shape=(size, size), dtype=np.float32
        )

    # --- a member's view --------------------------------------------------------------------

    def _artist_scores(
        self, profile: FloatArray, favourite: FloatArray | None = None
    ) -> FloatArray:
        """Per artist, the profile-weighted mean relation (itself counting SAME_ARTIST where
        `favourite` says so; everywhere without it)."""
        total = profile.sum()
        if total <= 0:
            return np.zeros(len(self._artists))
        mine = np.flatnonzero(profile)
        # Only the member's artists' rows: O(their relations), not O(all relations).
        weights = sp.csr_matrix(
            (profile[mine], (np.zeros(len(mine), dtype=np.int64), mine)),
            shape=(1, len(self._artists)),
        )
        related = np.asarray((weights @ self._relations).todense()).ravel()
        own = profile if favourite is None else profile * favourite
        return (related + SAME_ARTIST * own) / total  # type: ignore[no-any-return]

    def _profile(self, row: int) -> FloatArray:
        return _dense_row(self._profiles, row, len(self._artists))

    def _favourite(self, row: int) -> FloatArray | None:
        """1 for the user's artists with `favourite_from` or more of their tracks, else 0
        (None when every artist of the profile counts: `favourite_from` 1)."""
        if self.favourite_from <= 1:
            return None
        tracks = _dense_row(self._profile_tracks, row, len(self._artists))
        return (tracks >= self.favourite_from).astype(np.float64)

    def _item_scores(self, artist_scores: FloatArray) -> FloatArray:
        scores = np.zeros(len(self._items))
        scores[self._with_artist] = artist_scores[self._item_artist[self._with_artist]]
        return scores + self._tie

    def _related_item_scores(self, artist_scores: FloatArray) -> FloatArray:
        """`_item_scores` for the items of related artists (score > 0), -inf elsewhere:
        O(those items), through the per-artist index."""
        related = np.flatnonzero(artist_scores > 0)
        starts = self._artist_items_start[related]
        lengths = self._artist_items_start[related + 1] - starts
        # Every position of every related artist's run in the index, in one go.
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(
            int(lengths.sum())
        )
        items = self._artist_items[positions]
        scores = np.full(len(self._items), -np.inf)
        scores[items] = artist_scores[self._item_artist[items]] + self._tie[items]
        return scores

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float64]:
        scores = np.full((len(users), len(self._items)), -np.inf)
        for position, user in enumerate(users):
            row = self._users.index(str(user))
            if row < 0:
                continue  # nothing liked or played: no artists to relate to
            profile = self._profile(row)
            if profile.sum() <= 0:
                continue
            artist_scores = self._artist_scores(profile, self._favourite(row))
            if self.related_only:
                scores[position] = self._related_item_scores(artist_scores)
            else:
                scores[position] = self._item_scores(artist_scores)
        return scores

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def reason(self, user: str, item_index: int) -> str:
        artist = int(self._item_artist[item_index]) if len(self._item_artist) else -1
        row = self._users.index(user)
        if artist < 0 or row < 0:
            return "popular in the catalog"
        profile = self._profile(row)
        favourite = self._favourite(row)
        if profile[artist] > 0 and (favourite is None or favourite[artist] > 0):
            if self._only_played(row, artist):
                return f"by {self._names[artist]}, whom you play a lot"
            return f"by {self._names[artist]}, whose songs you liked"
        columns, scores = _row(self._relations, artist)  # co-occurrence is mutual
        weighted = profile[columns] * scores
        if len(weighted) and weighted.max() > 0:
            anchor = int(columns[np.argmax(weighted)])
            verb = "whom you play" if self._only_played(row, anchor) else "whom you liked"
            return f"often played alongside {self._names[anchor]}, {verb}"
        return "popular in the catalog"

    def _only_played(self, row: int, artist: int) -> bool:
        """Whether every track of `artist` in the user's profile (their positive rows) was
        only played, not liked."""
        if not self._played or row >= self._liked.shape[0]:
            return False
        items = row_items(self._liked, row)
        theirs = items[self._item_artist[items] == artist]
        return len(theirs) > 0 and all(self._items.id_of(int(i)) in self._played for i in theirs)

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """Tracks by the artists most related to `item`'s (its own artist first), by
        popularity within an artist; never `item` itself."""
        k = check_k(k)
        index = self._items.index(item)
        if index < 0 or self._item_artist[index] < 0:
            return []
        artist = int(self._item_artist[index])
        profile = np.zeros(len(self._artists))
        profile[artist] = 1.0
        scores = self._item_scores(self._artist_scores(profile))
        scores[scores < NAMED_RELATION] = -np.inf  # unrelated: nothing to say about them
        scores[index] = -np.inf
        name = self._names[artist]
        results = []
        for chosen in top_k(scores, k).tolist():
            other = int(self._item_artist[chosen])
            why = f"also by {name}" if other == artist else f"often played alongside {name}"
            results.append(Recommendation(self._items.id_of(chosen), float(scores[chosen]), why))
        return results

    # --- persistence ----------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        params = {
            "seed": self.seed,
            "method": self.method,
            "neighbours": self.neighbours,
            "shrink": self.shrink,
            "max_basket": self.max_basket,
            "favourite_from": self.favourite_from,
            "related_only": self.related_only,
            "report": self._report,
        }
        arrays: Arrays = {
            "artist_keys": self._artists.ids,
            "artist_names": np.asarray(self._names, dtype=np.str_),
            "relation_indptr": self._relations.indptr.astype(np.int64),
            "relation_indices": self._relations.indices.astype(np.int32),
            "relation_scores": self._relations.data.astype(np.float32),
            "basket_counts": self._basket_counts,
            "items": self._items.ids,
            "item_artist": self._item_artist,
            "popularity": self._popularity,
            "users": self._users.ids,
            "profile_indptr": self._profiles.indptr.astype(np.int64),
            "profile_indices": self._profiles.indices.astype(np.int32),
            "profile_weights": self._profiles.data.astype(np.float32),
            "profile_tracks": self._profile_tracks.data.astype(np.float32),
            "seen_indptr": self._seen.indptr.astype(np.int64),
            "seen_indices": self._seen.indices.astype(np.int32),
        }
        return params, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls(
            seed=params["seed"],
            method=params["method"],
            neighbours=params["neighbours"],
            shrink=params["shrink"],
            max_basket=params["max_basket"],
            favourite_from=int(params.get("favourite_from", 1)),
            related_only=bool(params.get("related_only", False)),
        )
        model._artists = Vocabulary(arrays["artist_keys"])
        model._names = arrays["artist_names"].tolist()
        count = len(model._artists)
        model._relations = sp.csr_matrix(
            (arrays["relation_scores"], arrays["relation_indices"], arrays["relation_indptr"]),
            shape=(count, count),
        )
        model._basket_counts = arrays["basket_counts"].astype(np.int64)
        model._items = Vocabulary(arrays["items"])
        model._item_artist = arrays["item_artist"].astype(np.int64)
        model._popularity = arrays["popularity"].astype(np.float64)
        model._derive_items()
        model._users = Vocabulary(arrays["users"])
        shape = (len(model._users), len(model._items))
        model._profiles = sp.csr_matrix(
            (arrays["profile_weights"], arrays["profile_indices"], arrays["profile_indptr"]),
            shape=(len(model._users), count),
        )
        # Saved before the track counts existed: count every artist as a favourite.
        counts = arrays.get("profile_tracks")
        if counts is None or len(counts) != model._profiles.nnz:
            counts = np.full(model._profiles.nnz, model.favourite_from, dtype=np.float32)
        model._profile_tracks = sp.csr_matrix(
            (counts, model._profiles.indices, model._profiles.indptr), shape=model._profiles.shape
        )
        model._seen = sp.csr_matrix(
            (
                np.ones(len(arrays["seen_indices"]), dtype=np.float32),
                arrays["seen_indices"],
                arrays["seen_indptr"],
            ),
            shape=shape,
        )
        model._report = dict(params["report"])
        return model


# --- helpers --------------------------------------------------------------------------------


def _dense_row(matrix: sp.csr_matrix, row: int, width: int) -> FloatArray:
    out = np.zeros(width)
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    out[matrix.indices[start:end]] = matrix.data[start:end]
    return out


def _row(matrix: sp.csr_matrix, row: int) -> tuple[npt.NDArray[np.int32], Float32Array]:
    if not 0 <= row < matrix.shape[0]:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def _cap_baskets(matrix: sp.csr_matrix, max_basket: int, seed: int) -> sp.csr_matrix:
    """Each basket (column) keeps its `max_basket` heaviest artists, ties drawn with `seed`:
    a member who played thousands of artists says little about any pair, and the pairs of a
    basket cost its size squared."""
    columns = matrix.tocsc()
    sizes = np.diff(columns.indptr)
    if sizes.max(initial=0) <= max_basket:
        return matrix
    rng = np.random.default_rng(seed)
    keep = np.ones(columns.nnz, dtype=bool)
    for column in np.flatnonzero(sizes > max_basket).tolist():
        start, end = columns.indptr[column], columns.indptr[column + 1]
        order = np.lexsort((rng.random(end - start), -columns.data[start:end]))
        keep[start + order[max_basket:]] = False
    columns.data = np.where(keep, columns.data, 0.0)
    columns.eliminate_zeros()
    return columns.tocsr()


def _cooccurrence(binary: sp.csr_matrix, method: str, shrink: float) -> sp.csr_matrix:
    """Relations of every pair of artists sharing a basket (see the module docstring)."""
    together = (binary @ binary.T).tocoo()  # c_ab: baskets holding both
    off = together.row != together.col
    rows, cols, shared = together.row[off], together.col[off], together.data[off]
    counts = np.asarray(binary.sum(axis=1)).ravel()
    if method == "cosine":
        values = shared / (np.sqrt(counts[rows] * counts[cols]) + shrink)
    else:
        total = binary.shape[1]
        p_ab = shared / total
        pmi = np.log(p_ab / ((counts[rows] / total) * (counts[cols] / total)))
        # -log(p_ab) is 0 when every basket holds both: they are as related as can be.
        npmi = np.where(p_ab < 1, pmi / np.maximum(-np.log(p_ab), 1e-12), 1.0)
        values = np.maximum(npmi, 0.0) * shared / (shared + shrink)
    values = np.minimum(values, 1.0)
    scores = sp.csr_matrix((values, (rows, cols)), shape=together.shape)
    scores.eliminate_zeros()
    return scores


def _strongest(scores: sp.csr_matrix, count: int) -> sp.csr_matrix:
    """Each row's `count` largest entries, strongest first (ties: lower column)."""
    indptr = np.zeros(scores.shape[0] + 1, dtype=np.int64)
    indices: list[npt.NDArray[np.int32]] = []
    data: list[Float32Array] = []
    for row in range(scores.shape[0]):
        start, end = scores.indptr[row], scores.indptr[row + 1]
        columns, values = scores.indices[start:end], scores.data[start:end]
        order = np.lexsort((columns, -values))[:count]
        indices.append(columns[order].astype(np.int32))
        data.append(values[order].astype(np.float32))
        indptr[row + 1] = indptr[row] + len(order)
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.empty(0, np.float32),
            np.concatenate(indices) if indices else np.empty(0, np.int32),
            indptr,
        ),
        shape=scores.shape,
    )
