"""Style similarity: tracks of the seed's world first, then close in sound (`/similar`'s
`mode: normal`).

A candidate's score blends what *places* a track with how it *sounds*:

    score = genre  * cosine of IDF-weighted genre vectors         (the scene it is in)
          + era    * exp(-|release year gap| / era_scale)          (when it is from)
          + artist * relation of the two main artists              (who it is played with)
          + sound  * 1 / (1 + distance in the audio embedding)      (how it sounds)

Genres are weighted by inverse document frequency, so a shared "new jack swing" says more
than a shared "pop". Artist relations come from recommender/artists.py (co-occurrence in
playlists, members' likes and plays). The sound term is the content model's similarity
(recommender/content.py, what `mode: sound` ranks by alone). The weights are those chosen on
validation playlists (docs/benchmarks.md, "Similar tracks in style"): genre dominates, era
and relations reorder tracks inside the seed's scene, and sound, small but spanning about
0.3-0.9, orders tracks of near-equal standing by how close they sound.

Serving is two-stage: the world terms (genre, era, artist) are computed for every track (a
sparse matrix-vector product and a few vector operations), the best `pool` become
candidates, and only those are compared in sound. When the seed has genres, only tracks
sharing one (its own or borrowed) are candidates.

Fallbacks, so every seed gets an answer:
- a track without genres borrows its main artist's genre profile (the mean of the artist's
  other tracks'); with neither, its genre term is 0;
- a track without a release year borrows its artist's median year; a candidate whose year
  nobody knows gets `unknown_era`, and a seed without one drops the era term;
- an artist in no basket relates only to itself: genre and era carry the ranking;
- a seed without audio features drops the sound term (candidates need features: a track
  outside the catalog is never offered as sounding alike);
- equal scores go to the more popular track, so a seed of which nothing is known gets the
  catalog's popular tracks.

Pure numpy/scipy: built in a fraction of a second from a fitted content model and the
relations, never saved (it is derived from both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artists import NAMED_RELATION, artist_key
from recommender.base import Recommendation, check_k
from recommender.content import _one_blas_thread
from recommender.data import FloatArray, ItemCatalog
from recommender.diversity import ARTIST_WINDOW, song_key

if TYPE_CHECKING:
    from recommender.artists import ArtistRelations
    from recommender.content import ContentSimilarity

IntArray = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

MAX_YEAR_GAP = 200
MAX_SEEDS = 5
MAX_PER_ARTIST = 2
# Equal scores go to the more popular track, by less than any real difference.
POPULARITY_TIE_BREAK = 1e-4
# Added to the tracks that share a genre when too few do to fill a list: more than any
# blend of the other terms, so all of them come first.
SHARED_GENRE_FIRST = 10.0
MIN_EXAMINED = 100
EXAMINED_PER_RESULT = 8


@dataclass(frozen=True)
class StyleWeights:
    """The blend's knobs; the defaults are the values chosen on validation playlists
    (docs/benchmarks.md). Only ratios matter, so genre stays at 1."""

    genre: float = 1.0
    era: float = 0.5
    artist: float = 0.25
    sound: float = 0.05
    era_scale: float = 16.0  # years: the era term is exp(-gap / era_scale)
    unknown_era: float = 0.25  # era term of a candidate whose year nobody knows
    same_artist: float = 1.0  # the relation of the seed's own artist
    pool: int = 2_000  # candidates compared in sound (0: every track)
    require_genre: bool = True  # keep only tracks sharing a genre when the seed has one

    def __post_init__(self) -> None:
        for name in ("genre", "era", "artist", "sound", "unknown_era", "same_artist"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.era_scale <= 0:
            raise ValueError("era_scale must be positive")
        if self.pool < 0:
            raise ValueError("pool must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArtistWeights:
    """How `similar_artists` ranks artists: relations first (a relation of 0.5 weighs as
    much as the very same genres), then genre, era and sound of the artists' tracks."""

    relation: float = 2.0
    genre: float = 1.0
    era: float = 0.5
    sound: float = 0.05


@dataclass(frozen=True)
class ArtistMatch:
    """An artist like the one asked about, why, and the track it is best known for."""

    key: str
    name: str
    score: float
    reason: str
    best_track: str  # item id
    relation: float


@dataclass(frozen=True)
class _Parts:
    """Why one result was chosen, relative to its anchor seed."""

    shared_genre: int  # the most specific genre both have, -1 if none
    relation: float
    same_artist: bool
    sound: float  # 0 without audio features
    alike: list[int]  # reason-feature indices where the two agree most


class StyleSimilarity:
    """A style index over one catalog (see the module docstring). Build it with
    `from_content` (serving) or `fit` (plain arrays); query with `similar_items`, `mix`
    and `similar_artists`."""

    def __init__(self) -> None:
        self.weights = StyleWeights()
        self.catalog: ItemCatalog | None = None
        self.n = 0
        self.genre_names: list[str] = []
        self.idf = np.zeros(0, np.float32)
        self.genres = sp.csr_matrix((0, 0), dtype=np.float32)  # items x genres, unit rows
        self.own_genres = sp.csr_matrix((0, 0), dtype=np.float32)  # binary, as given
        self.year = np.zeros(0, np.int16)  # -1: unknown (the artist's median filled in)
        self.artist = np.zeros(0, np.int64)  # len(artist_keys) for "no artist"
        self.artist_keys: list[str] = []
        self.artist_names: list[str] = []
        self.relations = sp.csr_matrix((0, 0), dtype=np.float32)  # artists x artists
        self.relations_label = "none"
        self.popularity = np.zeros(0, np.float32)
        self.embedding = np.zeros((0, 0), np.float32)
        self.sq_norms = np.zeros(0, np.float32)
        self.has_embedding = np.zeros(0, bool)
        self.song = np.zeros(0, np.int64)
        self.diversity_artist = np.zeros(0, np.int64)  # -1: no artist (never capped)
        self.reason_features: tuple[str, ...] = ()
        self.reason_scores = np.zeros((0, 0), np.float32)
        self.reason_penalties = np.zeros(0)
        self._era_table = np.zeros(0, np.float32)
        # Artist level (similar_artists): genre profiles, median years, mean embeddings.
        self.artist_genres = sp.csr_matrix((0, 0), dtype=np.float32)
        self.artist_year = np.zeros(0, np.float64)
        self.artist_embedding = np.zeros((0, 0), np.float32)
        self.artist_has_embedding = np.zeros(0, bool)
        self.artist_best = np.zeros(0, np.int64)
        self.artist_tracks = np.zeros(0, np.int64)

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_content(
        cls,
        content: ContentSimilarity,
        relations: ArtistRelations | None = None,
        weights: StyleWeights | None = None,
        relations_label: str = "",
    ) -> StyleSimilarity:
        """The index over a fitted content model's catalog (genres, release years,
        popularity), its audio embedding and reason features, and `relations`."""
        return cls.fit(
            content.catalog,
            np.asarray(content.vectors),
            np.asarray(content.has_vector),
            relations,
            weights=weights,
            reason_features=content.reason_features,
            reason_scores=np.asarray(content.reason_scores),
            reason_penalties=np.asarray(content.reason_penalties),
            relations_label=relations_label,
        )

    @classmethod
    def fit(
        cls,
        catalog: ItemCatalog,
        embedding: npt.NDArray[np.floating[Any]],
        has_embedding: BoolArray | None = None,
        relations: ArtistRelations | None = None,
        *,
        weights: StyleWeights | None = None,
        reason_features: Sequence[str] = (),
        reason_scores: npt.NDArray[np.floating[Any]] | None = None,
        reason_penalties: npt.NDArray[np.floating[Any]] | None = None,
        relations_label: str = "",
    ) -> StyleSimilarity:
        model = cls()
        n = len(catalog)
        model.catalog = catalog
        model.n = n
        model._set_artists(catalog, relations, relations_label)
        model._set_genres(catalog)
        model._set_years(catalog.release_years)
        model.popularity = (
            np.nan_to_num(np.asarray(catalog.popularity, dtype=np.float64), nan=0.0) / 100.0
        ).astype(np.float32)
        vectors = np.ascontiguousarray(embedding, dtype=np.float32).reshape(n, -1)
        model.embedding = vectors
        model.sq_norms = np.einsum("ij,ij->i", vectors, vectors)
        model.has_embedding = (
            np.ones(n, bool) if has_embedding is None else np.asarray(has_embedding, bool)
        )
        keys = [song_key(catalog, index) for index in range(n)]
        model.song = np.unique(
            np.asarray([f"{title}\x1f{artist}" for title, artist in keys], dtype=np.str_),
            return_inverse=True,
        )[1].astype(np.int64)
        diversity, inverse = np.unique(
            np.asarray([artist for _, artist in keys], dtype=np.str_), return_inverse=True
        )
        no_artist = np.flatnonzero(diversity == "")
        model.diversity_artist = np.where(np.isin(inverse, no_artist), -1, inverse).astype(np.int64)
        model.reason_features = tuple(reason_features)
        model.reason_scores = (
            np.zeros((n, 0), np.float32)
            if reason_scores is None
            else np.asarray(reason_scores, np.float32)
        )
        model.reason_penalties = (
            np.zeros(len(model.reason_features))
            if reason_penalties is None
            else np.asarray(reason_penalties, np.float64)
        )
        model._set_artist_level()
        return model.with_weights(weights or StyleWeights())

    def _set_artists(
        self, catalog: ItemCatalog, relations: ArtistRelations | None, label: str
    ) -> None:
        keys = [artist_key(catalog.main_artist(index)) for index in range(len(catalog))]
        names: dict[str, str] = {}
        for index, key in enumerate(keys):
            if key:
                names.setdefault(key, catalog.main_artist(index))
        self.artist_keys = sorted(names)
        self.artist_names = [names[key] for key in self.artist_keys]
        position = {key: index for index, key in enumerate(self.artist_keys)}
        unknown = len(self.artist_keys)
        self.artist = np.asarray([position.get(key, unknown) for key in keys], dtype=np.int64)
        self.set_relations(relations, label)

    def set_relations(self, relations: ArtistRelations | None, label: str = "") -> None:
        """Artist relations mapped onto this catalog's artists (None: none at all)."""
        count = len(self.artist_keys)
        if relations is None:
            self.relations = sp.csr_matrix((count, count), dtype=np.float32)
            self.relations_label = label or "none"
        else:
            self.relations = relations.matrix_for(self.artist_keys)
            self.relations_label = label or "artist relations"

    def _set_genres(self, catalog: ItemCatalog) -> None:
        n = len(catalog)
        self.genre_names = sorted({genre for genres in catalog.genres for genre in genres})
        position = {name: index for index, name in enumerate(self.genre_names)}
        rows = [item for item, genres in enumerate(catalog.genres) for _ in genres]
        cols = [position[genre] for genres in catalog.genres for genre in genres]
        own = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(n, len(self.genre_names))
        )
        own.sum_duplicates()
        own.data[:] = 1.0
        self.own_genres = own
        frequency = np.asarray(own.sum(axis=0)).ravel()
        labelled = max(int((np.diff(own.indptr) > 0).sum()), 1)
        self.idf = np.where(frequency > 0, np.log((1 + labelled) / (1 + frequency)) + 1, 0).astype(
            np.float32
        )
        weighted = _unit_rows((own @ sp.diags(self.idf)).tocsr())
        missing = np.diff(weighted.indptr) == 0
        if missing.any() and len(self.artist_keys):
            profiles = self._artist_profiles(weighted, ~missing)
            borrowed = profiles[np.minimum(self.artist[missing], len(self.artist_keys))]
            rows_missing = np.flatnonzero(missing)
            place = sp.csr_matrix(
                (np.ones(len(rows_missing)), (rows_missing, np.arange(len(rows_missing)))),
                shape=(n, len(rows_missing)),
            )
            weighted = (weighted + place @ borrowed).tocsr()
        self.genres = weighted.astype(np.float32)

    def _artist_profiles(self, weighted: sp.csr_matrix, usable: BoolArray) -> sp.csr_matrix:
        """(artists + 1) x genres: the mean of each artist's usable tracks' rows, unit
        length; the last row ("no artist") is empty."""
        n = weighted.shape[0]
        slots = len(self.artist_keys) + 1
        counted = usable & (self.artist < slots - 1)
        owner = sp.csr_matrix(
            (counted.astype(np.float64), (self.artist, np.arange(n))), shape=(slots, n)
        )
        return _unit_rows((owner @ weighted).tocsr())

    def _set_years(self, years: FloatArray) -> None:
        years = np.asarray(years, dtype=np.float64)
        known = np.isfinite(years)
        medians = _medians(years, self.artist, len(self.artist_keys) + 1)
        medians[len(self.artist_keys)] = np.nan  # "no artist" lends no year
        self.artist_year = medians[: len(self.artist_keys)]
        filled = np.where(known, years, medians[self.artist])
        self.year = np.where(np.isfinite(filled), np.round(filled), -1).astype(np.int16)

    def _set_artist_level(self) -> None:
        count = len(self.artist_keys)
        own = _unit_rows((self.own_genres @ sp.diags(self.idf)).tocsr())
        self.artist_genres = self._artist_profiles(own, np.ones(self.n, bool))[:count]
        has = self.has_embedding & (self.artist < count)
        totals = np.zeros((count + 1, self.embedding.shape[1]), np.float64)
        np.add.at(totals, self.artist[has], self.embedding[has])
        counts = np.bincount(self.artist[has], minlength=count + 1)[:count]
        self.artist_has_embedding = counts > 0
        self.artist_embedding = (totals[:count] / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self.artist_tracks = np.bincount(self.artist, minlength=count + 1)[:count]
        # The best-known track: the most popular (ties: the first in the catalog).
        order = np.lexsort((np.arange(self.n), -self.popularity, self.artist))
        artists = self.artist[order]
        first = np.r_[True, artists[1:] != artists[:-1]]
        best = np.full(count + 1, -1, np.int64)
        best[artists[first]] = order[first]
        self.artist_best = best[:count]

    def with_weights(self, weights: StyleWeights) -> StyleSimilarity:
        """The same index with other weights (arrays shared, nothing copied)."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.weights = weights
        gaps = np.arange(MAX_YEAR_GAP + 1, dtype=np.float64)
        twin._era_table = np.exp(-gaps / weights.era_scale).astype(np.float32)
        return twin

    def with_relations(self, relations: ArtistRelations | None, label: str = "") -> StyleSimilarity:
        twin = self.with_weights(self.weights)
        twin.set_relations(relations, label)
        return twin

    # --- reading ----------------------------------------------------------------------------

    def index_of(self, item: str) -> int:
        return self.catalog.vocab.index(item) if self.catalog is not None else -1

    def artist_index(self, key: str) -> int:
        """The index of the artist with this folded name (recommender.artists.artist_key),
        -1 when the catalog has none."""
        position = int(np.searchsorted(self.artist_keys, key))
        if position < len(self.artist_keys) and self.artist_keys[position] == key:
            return position
        return -1

    def report(self) -> dict[str, Any]:
        return {
            "tracks": self.n,
            "artists": len(self.artist_keys),
            "genres": len(self.genre_names),
            "tracks_with_year": int((self.year >= 0).sum()),
            "related_artists": int((np.diff(self.relations.indptr) > 0).sum()),
            "relations": self.relations_label,
            "weights": self.weights.to_dict(),
        }

    # --- scoring ----------------------------------------------------------------------------

    def world_terms(self, seed: int) -> tuple[Float32Array, Float32Array, Float32Array]:
        """(genre, era, artist) terms of every track for `seed`, each in [0, 1]."""
        start, end = self.genres.indptr[seed], self.genres.indptr[seed + 1]
        if end > start:
            dense = np.zeros(len(self.genre_names), np.float32)
            dense[self.genres.indices[start:end]] = self.genres.data[start:end]
            genre = np.asarray(self.genres @ dense, dtype=np.float32)
        else:
            genre = np.zeros(self.n, np.float32)
        year = int(self.year[seed])
        if year >= 0:
            gap = np.abs(self.year.astype(np.int32) - year)
            np.minimum(gap, MAX_YEAR_GAP, out=gap)
            era = self._era_table[gap]
            era[self.year < 0] = self.weights.unknown_era
        else:
            era = np.zeros(self.n, np.float32)
        related = np.zeros(len(self.artist_keys) + 1, np.float32)
        artist = int(self.artist[seed])
        if artist < len(self.artist_keys):
            start, end = self.relations.indptr[artist], self.relations.indptr[artist + 1]
            related[self.relations.indices[start:end]] = self.relations.data[start:end]
            related[artist] = self.weights.same_artist
        return genre, era, related[self.artist]

    def sound_terms(self, seed: int, candidates: IntArray | None = None) -> Float32Array:
        """1 / (1 + Euclidean distance) in the audio embedding (the content model's
        similarity); 0 where either track has no audio features."""
        size = self.n if candidates is None else len(candidates)
        if not self.has_embedding[seed]:
            return np.zeros(size, np.float32)
        vectors = self.embedding if candidates is None else self.embedding[candidates]
        norms = self.sq_norms if candidates is None else self.sq_norms[candidates]
        sims = vectors @ self.embedding[seed]
        sims *= -2
        sims += norms
        sims += self.sq_norms[seed]
        np.maximum(sims, 0, out=sims)
        np.sqrt(sims, out=sims)
        sims += 1
        np.reciprocal(sims, out=sims)
        offered = self.has_embedding if candidates is None else self.has_embedding[candidates]
        sims[~offered] = 0.0
        return sims.astype(np.float32, copy=False)

    def world_scores(self, seeds: Sequence[int], *, strict: bool = True) -> Float32Array:
        """The world part of the blend, averaged over `seeds`; -inf for tracks that are
        never offered (no audio features). With `require_genre` and a seed that has
        genres, tracks sharing none are -inf too (`strict`), or ranked after every track
        that shares one (not `strict`: when too few share one to fill the list)."""
        w = self.weights
        total = np.zeros(self.n, np.float32)
        shares = np.zeros(self.n, bool)
        filtered = False
        for seed in seeds:
            genre, era, artist = self.world_terms(seed)
            total += genre * np.float32(w.genre)
            if w.era:
                total += era * np.float32(w.era)
            if w.artist:
                total += artist * np.float32(w.artist)
            if w.require_genre and self.genres.indptr[seed + 1] > self.genres.indptr[seed]:
                filtered = True
                shares |= genre > 0
        total /= np.float32(len(seeds))
        total += self.popularity * np.float32(POPULARITY_TIE_BREAK)
        if filtered and strict:
            total[~shares] = -np.inf
        elif filtered:
            total[shares] += np.float32(SHARED_GENRE_FIRST)
        total[~self.has_embedding] = -np.inf
        return total

    def blended(
        self, seeds: Sequence[int], candidates: IntArray, world: Float32Array
    ) -> Float32Array:
        """The blend's scores of `candidates`: their world scores plus sound, averaged
        over `seeds`."""
        w = self.weights
        scores = world[candidates]
        if w.sound == 0:
            return scores
        sound = np.zeros(len(candidates), np.float32)
        for seed in seeds:
            sound += self.sound_terms(seed, candidates)
        sound /= np.float32(len(seeds))
        return scores + np.float32(w.sound) * sound

    # --- queries ----------------------------------------------------------------------------

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """The k tracks most like `item` (see the module docstring); [] for an unknown item."""
        return self.mix([item], k)

    def mix(self, items: Sequence[str], k: int = 10) -> list[Recommendation]:
        """Tracks like 1 to 5 seeds together (their terms averaged), never a seed or a
        version of one, at most two per artist in each ten. Unknown seeds are left out."""
        k = check_k(k)
        unique = list(dict.fromkeys(items))
        if not 1 <= len(unique) <= MAX_SEEDS:
            raise ValueError(f"a mix takes 1 to {MAX_SEEDS} seed tracks, got {len(unique)}")
        seeds = [index for index in map(self.index_of, unique) if index >= 0]
        if not seeds:
            return []
        with _one_blas_thread():  # a query's products are too small to gain from threads
            return self._mix(seeds, k)

    def _mix(self, seeds: list[int], k: int) -> list[Recommendation]:
        items, scores = self.rank(seeds, k)
        assert self.catalog is not None
        results = []
        for item, score in zip(items.tolist(), scores.tolist(), strict=True):
            anchor = seeds[0] if len(seeds) == 1 else self._anchor(seeds, item)
            why = self._reason(anchor, item)
            if len(seeds) > 1:
                why = f"like {self.catalog.label(anchor)}: {why}"
            results.append(Recommendation(self.catalog.vocab.id_of(item), score, why))
        return results

    def rank(self, seeds: Sequence[int], k: int) -> tuple[IntArray, Float32Array]:
        """The best k track indices for seed indices `seeds` and their scores, without
        reasons (`mix` adds them; evaluations need only the ranking). Sound is compared
        for the `pool` best by world score, more when the diversity rules leave too few;
        when too few tracks share the seeds' genres, the others follow them."""
        for strict in (True, False) if self._filtered(seeds) else (True,):
            world = self.world_scores(seeds, strict=strict)
            world[list(seeds)] = -np.inf
            offered = int(np.isfinite(world).sum())
            pool = self.weights.pool or self.n
            while True:
                if self.weights.sound and pool < offered:
                    candidates = _top(world, pool)
                else:
                    candidates = np.flatnonzero(np.isfinite(world)).astype(np.int64)
                scores = self.blended(seeds, candidates, world)
                chosen = self._diversified(candidates, scores, seeds, k)
                if len(chosen) >= k or len(candidates) >= offered:
                    break
                pool *= 4
            if len(chosen) >= k:
                break
        if not strict:  # the ranking bonus of tracks sharing a genre is not their score
            scores = np.where(scores >= SHARED_GENRE_FIRST, scores - SHARED_GENRE_FIRST, scores)
        return candidates[chosen], scores[chosen]

    def _filtered(self, seeds: Sequence[int]) -> bool:
        """Whether the genre filter applies to these seeds."""
        return self.weights.require_genre and any(
            self.genres.indptr[seed + 1] > self.genres.indptr[seed] for seed in seeds
        )

    def _anchor(self, seeds: Sequence[int], item: int) -> int:
        """The seed a mix result is most like (for its reason)."""
        return max(seeds, key=lambda seed: self._pair_score(seed, item))

    def _pair_score(self, seed: int, item: int) -> float:
        """The blend's score of `item` for `seed` alone, without the whole catalog."""
        w = self.weights
        columns, values = _row(self.genres, seed)
        genre = float(_dense_row(self.genres, item)[columns] @ values)
        seed_year, year = int(self.year[seed]), int(self.year[item])
        era = 0.0
        if seed_year >= 0:
            gap = min(abs(seed_year - year), MAX_YEAR_GAP)
            era = float(self._era_table[gap]) if year >= 0 else w.unknown_era
        a, b = int(self.artist[seed]), int(self.artist[item])
        if a >= len(self.artist_keys):
            artist = 0.0
        else:
            artist = w.same_artist if a == b else _relation(self.relations, a, b)
        sound = float(self.sound_terms(seed, np.asarray([item]))[0])
        return w.genre * genre + w.era * era + w.artist * artist + w.sound * sound

    def _diversified(
        self, candidates: IntArray, scores: Float32Array, seeds: Sequence[int], k: int
    ) -> IntArray:
        """Positions (in `candidates`) of the best k under the diversity rules, examining
        as few as needed."""
        finite = int(np.isfinite(scores).sum())
        count = min(finite, max(MIN_EXAMINED, EXAMINED_PER_RESULT * k))
        while True:
            best = _top(scores, count)
            chosen = self._diversify(candidates[best], seeds, k)
            if len(chosen) >= k or count >= finite:
                position = {int(item): place for place, item in enumerate(candidates[best])}
                return best[[position[item] for item in chosen]]
            count = min(finite, count * 4)

    def _diversify(self, ranked: IntArray, seeds: Sequence[int], k: int) -> list[int]:
        """recommender.diversity's rules over integer keys: one version of a song, none of
        a seed's, at most MAX_PER_ARTIST per artist in each block of ten."""
        songs = {int(self.song[seed]) for seed in seeds}
        per_artist: dict[int, int] = {}
        chosen: list[int] = []
        for index in ranked.tolist():
            if len(chosen) >= k:
                break
            if len(chosen) % ARTIST_WINDOW == 0:
                per_artist.clear()
            song = int(self.song[index])
            artist = int(self.diversity_artist[index])
            if song in songs or (artist >= 0 and per_artist.get(artist, 0) >= MAX_PER_ARTIST):
                continue
            songs.add(song)
            if artist >= 0:
                per_artist[artist] = per_artist.get(artist, 0) + 1
            chosen.append(index)
        return chosen

    # --- reasons ----------------------------------------------------------------------------

    def _parts(self, seed: int, item: int) -> _Parts:
        seed_genres = set(_row(self.own_genres, seed)[0].tolist()) or set(
            _row(self.genres, seed)[0].tolist()
        )
        item_genres = set(_row(self.own_genres, item)[0].tolist()) or set(
            _row(self.genres, item)[0].tolist()
        )
        common = seed_genres & item_genres
        shared = max(common, key=lambda g: (self.idf[g], -g)) if common else -1
        a, b = int(self.artist[seed]), int(self.artist[item])
        known = a < len(self.artist_keys)
        same = known and a == b
        relation = self.weights.same_artist if same else _relation(self.relations, a, b)
        sound = float(self.sound_terms(seed, np.asarray([item]))[0])
        return _Parts(shared, relation, same, sound, self._agreeing(seed, item))

    def _agreeing(self, seed: int, item: int, count: int = 2) -> list[int]:
        """The content model's rule: the features on which both agree most, preferring
        agreement away from the typical value; background features need both to stand out."""
        if not self.reason_features or not (self.has_embedding[seed] and self.has_embedding[item]):
            return []
        a = self.reason_scores[seed].astype(np.float64)
        b = self.reason_scores[item].astype(np.float64)
        same_side = np.sign(a) == np.sign(b)
        distinctive = np.where(same_side, np.minimum(abs(a), abs(b)), 0.0)
        disagreement = abs(a - b) - 0.5 * distinctive + self.reason_penalties
        return np.argsort(disagreement, kind="stable")[:count].tolist()  # type: ignore[no-any-return]

    def _reason(self, seed: int, item: int) -> str:
        """'also 80s synth-pop, often played alongside a-ha, with similar tempo and energy'."""
        parts = self._parts(seed, item)
        artist = int(self.artist[seed])
        seed_artist = self.artist_names[artist] if artist < len(self.artist_keys) else ""
        era = _same_decade(float(self.year[seed]), float(self.year[item]))
        pieces: list[str] = []
        if parts.shared_genre >= 0:
            pieces.append(f"also {era + ' ' if era else ''}{self.genre_names[parts.shared_genre]}")
        elif era:
            pieces.append(f"also from the {era}")
        if parts.same_artist:
            pieces.append(f"more {seed_artist}")
        elif parts.relation >= NAMED_RELATION and seed_artist:
            pieces.append(f"often played alongside {seed_artist}")
        alike = [self.reason_features[f].replace("_", " ") for f in parts.alike]
        if alike:
            pieces.append(f"with similar {' and '.join(alike)}")
        elif parts.sound > 0:
            pieces.append("with a similar sound")
        return ", ".join(pieces) if pieces else "popular in the catalog"

    # --- artists ----------------------------------------------------------------------------

    def similar_artists(
        self, key: str, k: int = 10, weights: ArtistWeights | None = None
    ) -> list[ArtistMatch]:
        """Artists like the one with folded name `key`: related ones first (played
        alongside it), then those of its genres and era, then close in sound; each with
        its best-known track. [] for an artist the catalog lacks."""
        k = check_k(k)
        a = self.artist_index(key)
        if a < 0:
            return []
        weights = weights or ArtistWeights()
        count = len(self.artist_keys)
        related = np.zeros(count, np.float32)
        start, end = self.relations.indptr[a], self.relations.indptr[a + 1]
        related[self.relations.indices[start:end]] = self.relations.data[start:end]
        genre = np.asarray(self.artist_genres @ _dense_row(self.artist_genres, a)).ravel()
        era = np.zeros(count)
        if np.isfinite(self.artist_year[a]):
            gap = np.abs(self.artist_year - self.artist_year[a])
            era = np.where(
                np.isfinite(gap),
                np.exp(-np.minimum(np.nan_to_num(gap), MAX_YEAR_GAP) / self.weights.era_scale),
                self.weights.unknown_era,
            )
        sound = np.zeros(count)
        if self.artist_has_embedding[a]:
            distance = np.linalg.norm(self.artist_embedding - self.artist_embedding[a], axis=1)
            sound = np.where(self.artist_has_embedding, 1.0 / (1.0 + distance), 0.0)
        best_popularity = np.where(
            self.artist_best >= 0, self.popularity[np.maximum(self.artist_best, 0)], 0.0
        )
        scores = (
            weights.relation * related
            + weights.genre * genre
            + weights.era * era
            + weights.sound * sound
            + POPULARITY_TIE_BREAK * best_popularity
        )
        scores[a] = -np.inf
        scores[self.artist_best < 0] = -np.inf
        assert self.catalog is not None
        matches = []
        for other in _top(scores.astype(np.float64), k).tolist():
            matches.append(
                ArtistMatch(
                    key=self.artist_keys[other],
                    name=self.artist_names[other],
                    score=float(scores[other]),
                    reason=self._artist_reason(a, other, float(related[other]), sound[other]),
                    best_track=self.catalog.vocab.id_of(int(self.artist_best[other])),
                    relation=float(related[other]),
                )
            )
        return matches

    def _artist_reason(self, a: int, b: int, relation: float, sound: float) -> str:
        """'often played alongside Queen, also 70s album rock'."""
        pieces = []
        if relation >= NAMED_RELATION:
            pieces.append(f"often played alongside {self.artist_names[a]}")
        mine = set(_row(self.artist_genres, a)[0].tolist())
        theirs = set(_row(self.artist_genres, b)[0].tolist())
        common = mine & theirs
        era = _same_decade(float(self.artist_year[a]), float(self.artist_year[b]))
        if common:
            genre = self.genre_names[max(common, key=lambda g: (self.idf[g], -g))]
            pieces.append(f"also {era + ' ' if era else ''}{genre}")
        elif era:
            pieces.append(f"also from the {era}")
        if not pieces:
            pieces.append("with a similar sound" if sound > 0 else "popular in the catalog")
        return ", ".join(pieces)


# --- helpers --------------------------------------------------------------------------------


def decade(year: int) -> str:
    """1983 -> "80s", 2008 -> "2000s"."""
    start = year // 10 * 10
    return f"{start % 100:02d}s" if start < 2000 else f"{start}s"


def _same_decade(a: float, b: float) -> str:
    """The decade both years are in ("80s"), or "" (different decades, or unknown)."""
    if not (np.isfinite(a) and np.isfinite(b)) or a < 0 or b < 0:
        return ""
    first, second = decade(round(a)), decade(round(b))
    return first if first == second else ""


def _top(scores: npt.NDArray[np.floating[Any]], count: int) -> IntArray:
    """Indices of the `count` highest finite scores, best first (ties: lower index). Only
    finite scores are partitioned: the genre filter sets most of them to -inf."""
    finite = np.flatnonzero(np.isfinite(scores))
    if count <= 0:
        return np.empty(0, np.int64)
    if len(finite) > count:
        values = scores[finite]
        finite = finite[np.argpartition(values, len(values) - count)[len(values) - count :]]
    return finite[np.lexsort((finite, -scores[finite]))].astype(np.int64)


def _row(matrix: sp.csr_matrix, row: int) -> tuple[npt.NDArray[np.int32], Float32Array]:
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def _dense_row(matrix: sp.csr_matrix, row: int) -> Float32Array:
    dense = np.zeros(matrix.shape[1], np.float32)
    columns, values = _row(matrix, row)
    dense[columns] = values
    return dense


def _relation(relations: sp.csr_matrix, a: int, b: int) -> float:
    if a >= relations.shape[0]:
        return 0.0
    columns, values = _row(relations, a)
    hit = np.flatnonzero(columns == b)
    return float(values[hit[0]]) if len(hit) else 0.0


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    lengths = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, lengths, out=np.zeros_like(lengths), where=lengths > 0)
    result = (sp.diags(scale) @ matrix).tocsr()
    result.eliminate_zeros()
    return result


def _medians(values: FloatArray, groups: IntArray, slots: int) -> FloatArray:
    """The median of the finite `values` of each group (NaN for a group with none)."""
    known = np.isfinite(values)
    medians = np.full(slots, np.nan)
    if not known.any():
        return medians
    order = np.lexsort((values[known], groups[known]))
    group, value = groups[known][order], values[known][order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        medians[group[start]] = float(np.median(value[start:end]))
    return medians
