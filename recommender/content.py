"""Content-based similarity: tracks that sound alike, from Spotify's audio features.

Fitting turns the catalog's features into one vector per track:

1. Features missing for most of the catalog are dropped (time_signature is absent from
   the TidyTuesday file, 86 % of ours); other gaps are filled with the feature's median.
   A track with no features at all (one outside the catalog, added because a member played
   it) gets no vector and is never offered, and the shares are measured without such
   tracks, so a catalog of mostly played tracks keeps its features.
2. Continuous features become normal scores (rank-based), so skewed ones (speechiness,
   instrumentalness, liveness) and outliers (tempo 0, loudness -48 dB) cannot dominate.
   Key sits on the circle of fifths (C and G are neighbours, C and F# opposite); key, mode
   and time signature are down-weighted, because they say little about how a track feels.
3. PCA keeps the components that explain 95 % of the variance (decorrelated, so energy and
   loudness, which move together, do not count twice).
4. K-Means groups the vectors into sound clusters, with k picked by silhouette on a sample;
   the clusters are reported, and `earworm bench similar` measures what they would cost in
   recall as a search index. Search itself is brute force: one matrix-vector product over
   every track stays fast at ten times our catalog, so nothing is traded for speed.

By default (`representation="genre-net"`) steps 1 and 2 feed a small network instead
(`recommender.embeddings`) whose embedding layer replaces step 3: a genre classifier's last
hidden layer, trained on the catalog's genres (`"autoencoder"`: an autoencoder's
bottleneck). It measured better than the PCA vectors (`"features"`) on genre precision for
tracks whose genres it never saw, and ranked held-out playlist tracks higher (AUC). With
fewer than `min_labelled_tracks` tracks that have a genre there is too little to learn
from, and the model uses the PCA vectors. The encoder is saved with the model, so a track
added later gets a vector without retraining (`encoder.embed`). Reasons still compare the
scaled features themselves.

Similarity is 1 / (1 + Euclidean distance) by default (cosine is a tuning option): distance
keeps "how far from typical" that cosine throws away for tracks near the centre. A member's
score for a track is its mean similarity to the tracks they liked.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.base import Recommendation, Recommender, check_k
from recommender.data import FloatArray, Interactions, ItemCatalog, row_items, seen_and_liked
from recommender.diversity import diversify, song_key
from recommender.features import categorical_columns
from recommender.vocab import Vocabulary

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

    from recommender.embeddings import TrackEncoder

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Scores = npt.NDArray[np.floating[Any]]  # float32 in the query path, float64 for members

MODES = ("normal", "genre")
REPRESENTATIONS = ("features", "genre-net", "autoencoder")
MAX_MIX_SEEDS = 5
# Reasons prefer what a listener notices; these count only where both tracks stand out
# (both live recordings, both instrumental), never for agreeing on "not at all".
BACKGROUND_FEATURES = {"liveness": 0.75, "instrumentalness": 0.5, "speechiness": 0.5}
# Candidates examined per wanted result before diversity rules may ask for more.
POOL_PER_RESULT = 8
MIN_POOL = 100
ENCODER_PREFIX = "encoder_"  # the learned representation's arrays inside the artifact
LIKED_BLOCK = 256  # liked items scored at once, to bound memory for large profiles
# A member's profile for serving: up to this many liked tracks exactly; past it, the liked
# tracks' vectors summarised by as many weighted k-means centres (`bounded_profile`), so a
# request costs the same for 20 likes or 100,000 plays (docs/performance.md measures what
# it costs in recall against the exact form).
PROFILE_POINTS = 16
PROFILE_ITERATIONS = 8


@dataclass(frozen=True)
class ContentTuning:
    """Knobs of the content model; the defaults are the measured choices (see docs)."""

    metric: Literal["euclidean", "cosine"] = "euclidean"
    # What a track's vector is: its scaled features through PCA ("features"), or a
    # learned embedding of them (recommender.embeddings: "genre-net", "autoencoder").
    # The genre network won on held-out genre precision and playlist AUC (docs).
    representation: Literal["features", "genre-net", "autoencoder"] = "genre-net"
    # Size of a learned embedding; 0: the encoder's default (32 genre-net, 8 autoencoder).
    embedding_dimensions: int = 0
    # Most epochs an encoder trains (early stopping on held-out tracks usually ends sooner).
    embedding_epochs: int = 200
    # A genre network needs examples: with fewer tracks that have both audio features and
    # a genre, the model uses the "features" representation (its report says so).
    min_labelled_tracks: int = 1_000
    scaling: Literal["quantile", "standard"] = "quantile"
    explained_variance: float = 0.95
    # How a member's liked tracks score a candidate: its mean similarity to them ("mean":
    # best on playlist continuation), its best similarity to any ("max"), or similarity
    # to their mean vector ("centroid").
    profile: Literal["max", "mean", "centroid"] = "mean"
    # >0 adds genres to the vectors as multi-hot columns of this weight (for comparison;
    # genre mode filters by genre instead).
    genre_weight: float = 0.0
    # Genre mode for a member: genres held by at least this share of their liked tracks.
    user_genre_share: float = 0.2
    # Genre mode and tracks of unknown genre: "keep" them (not known to be off-genre) or
    # "drop" them (only tracks known to share a genre).
    unknown_genres: Literal["keep", "drop"] = "keep"
    max_missing_share: float = 0.5
    cluster_candidates: tuple[int, ...] = (4, 6, 8, 10, 12, 16, 20, 24, 32)
    cluster_sample: int = 10_000
    silhouette_sample: int = 4_000

    def __post_init__(self) -> None:
        if self.metric not in ("euclidean", "cosine"):
            raise ValueError(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}")
        if self.scaling not in ("quantile", "standard"):
            raise ValueError(f"scaling must be 'quantile' or 'standard', got {self.scaling!r}")
        if self.profile not in ("max", "mean", "centroid"):
            raise ValueError(f"profile must be 'max', 'mean' or 'centroid', got {self.profile!r}")
        if self.unknown_genres not in ("keep", "drop"):
            raise ValueError(
                f"unknown_genres must be 'keep' or 'drop', got {self.unknown_genres!r}"
            )
        if not 0 < self.explained_variance <= 1:
            raise ValueError("explained_variance must be in (0, 1]")
        if self.genre_weight < 0:
            raise ValueError("genre_weight must not be negative")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"representation must be one of {', '.join(REPRESENTATIONS)}, "
                f"got {self.representation!r}"
            )
        if self.embedding_dimensions < 0:
            raise ValueError("embedding_dimensions must not be negative")
        if self.embedding_epochs < 1:
            raise ValueError("embedding_epochs must be at least 1")
        if self.min_labelled_tracks < 0:
            raise ValueError("min_labelled_tracks must not be negative")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ContentTuning:
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown content tuning option(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        if "cluster_candidates" in options:
            options = {**options, "cluster_candidates": tuple(options["cluster_candidates"])}
        return cls(**options)


# --- features -> vectors ------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedFeatures:
    """The catalog's features, ready for PCA, plus per-feature scores that reasons compare."""

    matrix: FloatArray  # items x columns (rows of items without features are zero)
    has_vector: BoolArray
    used: tuple[str, ...]
    dropped: tuple[str, ...]
    reason_features: tuple[str, ...]
    reason_scores: FloatArray  # items x reason_features, in standard-deviation units


def normal_scores(values: FloatArray) -> FloatArray:
    """Ranks mapped onto a standard normal (ties share a score): robust to skew and outliers."""
    from scipy.special import ndtri  # fit-time only: keeps loading a model quick
    from scipy.stats import rankdata

    if len(values) < 2:
        return np.zeros_like(values)
    ranks = rankdata(values, method="average")
    return ndtri((ranks - 0.5) / len(values))


def bounded_profile(
    vectors: FloatArray, weights: FloatArray, points: int, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """`points` weighted k-means centres of `vectors` and the weight each stands for: a
    member's liked tracks summarised for scoring (greedy k-means++ start, a few Lloyd
    steps). Built on every new member state, so in a few dozen array operations: a
    member's 40 liked tracks take a fraction of a millisecond, 2,000 a few."""
    data = np.asarray(vectors, dtype=np.float64)
    weight = np.asarray(weights, dtype=np.float64)
    squared = np.einsum("ij,ij->i", data, data)
    centres = _greedy_seeds(data, squared, weight, points, np.random.default_rng(seed))
    for _ in range(PROFILE_ITERATIONS):
        spread = _assigned(data, squared, weight, centres)
        mass = spread.sum(axis=1)
        used = mass > 0
        centres[used] = (spread[used] @ data) / mass[used, None]
    mass = _assigned(data, squared, weight, centres).sum(axis=1)
    used = mass > 0
    return centres[used], mass[used]


def _assigned(
    data: FloatArray, squared: FloatArray, weight: FloatArray, centres: FloatArray
) -> FloatArray:
    """centres x points: each point's weight under its nearest centre, zero elsewhere."""
    distances = squared[:, None] - 2.0 * (data @ centres.T)
    distances += np.einsum("ij,ij->i", centres, centres)[None, :]
    spread = np.zeros((len(centres), len(data)))
    spread[distances.argmin(axis=1), np.arange(len(data))] = weight
    return spread


def _greedy_seeds(
    data: FloatArray,
    squared: FloatArray,
    weight: FloatArray,
    points: int,
    rng: np.random.Generator,
) -> FloatArray:
    """k-means++ seeding as scikit-learn's `kmeans_plusplus` does it (each centre the best
    of 2 + log k candidates drawn by weighted squared distance), without its per-call input
    checks, which cost more than the work for a member's few dozen tracks."""
    count = len(data)
    trials = 2 + int(np.log(points))
    centres = np.empty((points, data.shape[1]))
    first = int(rng.choice(count, p=weight / weight.sum()))
    centres[0] = data[first]
    closest = np.maximum(squared - 2.0 * (data @ data[first]) + squared[first], 0.0)
    potential = float(closest @ weight)
    for centre in range(1, points):
        draws = rng.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(weight * closest), draws)
        np.minimum(candidates, count - 1, out=candidates)
        distances = squared[candidates, None] - 2.0 * (data[candidates] @ data.T)
        distances += squared[None, :]
        np.maximum(distances, 0.0, out=distances)
        np.minimum(closest, distances, out=distances)
        potentials = distances @ weight
        best = int(np.argmin(potentials))
        closest, potential = distances[best], float(potentials[best])
        centres[centre] = data[candidates[best]]
    return centres


def standard_scores(values: FloatArray) -> FloatArray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def described_missing_share(raw: FloatArray) -> FloatArray:
    """Per feature, the share of tracks lacking it among the tracks that have any feature.

    A track outside the catalog (added because a member played it) has none at all: it gets
    no vector and is never offered as sounding alike, and it does not count here, so a
    catalog of mostly such tracks still keeps every feature its described tracks share.
    Without any described track every feature counts as missing."""
    described = ~np.isnan(raw).all(axis=1)
    if described.any():
        return np.isnan(raw[described]).mean(axis=0)  # type: ignore[no-any-return]
    return np.ones(raw.shape[1]) if len(raw) else np.zeros(raw.shape[1])


def encode_features(catalog: ItemCatalog, tuning: ContentTuning) -> EncodedFeatures:
    """Steps 1 and 2 of the module docstring: drop, impute, scale and weight."""
    raw = np.asarray(catalog.features, dtype=np.float64)
    count = len(catalog)
    missing_share = described_missing_share(raw)
    keep = missing_share <= tuning.max_missing_share
    used = tuple(name for name, kept in zip(catalog.feature_names, keep, strict=True) if kept)
    dropped = tuple(n for n, kept in zip(catalog.feature_names, keep, strict=True) if not kept)
    values = raw[:, keep]
    has_vector = ~np.isnan(values).all(axis=1) if used else np.zeros(count, dtype=bool)
    indexed = values[has_vector]
    if len(indexed):
        medians = np.nanmedian(indexed, axis=0)
        indexed = np.where(np.isnan(indexed), medians, indexed)

    scale = normal_scores if tuning.scaling == "quantile" else standard_scores
    columns: list[FloatArray] = []
    reason_features: list[str] = []
    reason_columns: list[FloatArray] = []
    for position, name in enumerate(used):
        column = indexed[:, position]
        categorical = categorical_columns(name, column)
        if categorical is not None:
            columns += categorical
        else:
            scores = scale(column)
            columns.append(scores)
            reason_features.append(name)
            reason_columns.append(scores)
    if tuning.genre_weight > 0:
        columns.extend(_genre_columns(catalog, has_vector, tuning.genre_weight))

    matrix = np.zeros((count, len(columns)))
    if columns and len(indexed):
        matrix[has_vector] = np.column_stack(columns)
    reason_scores = np.zeros((count, len(reason_columns)))
    if reason_columns and len(indexed):
        reason_scores[has_vector] = np.column_stack(reason_columns)
    return EncodedFeatures(matrix, has_vector, used, dropped, tuple(reason_features), reason_scores)


def _genre_columns(catalog: ItemCatalog, rows: BoolArray, weight: float) -> list[FloatArray]:
    """Multi-hot genres, each row scaled to length `weight` (a track in many playlists'
    genres is not more "genre" than one in a single genre)."""
    names = sorted({genre for genres in catalog.genres for genre in genres})
    position = {name: index for index, name in enumerate(names)}
    hot = np.zeros((len(catalog), len(names)))
    for item, genres in enumerate(catalog.genres):
        for genre in genres:
            hot[item, position[genre]] = 1.0
    lengths = np.linalg.norm(hot, axis=1, keepdims=True)
    hot = np.divide(hot, lengths, out=np.zeros_like(hot), where=lengths > 0) * weight
    return list(hot[rows].T)


def project(matrix: FloatArray, explained_variance: float, seed: int) -> tuple[FloatArray, float]:
    """PCA onto the components that explain `explained_variance`; returns the vectors and
    the share of variance they keep."""
    from sklearn.decomposition import PCA

    if matrix.shape[0] == 0:
        return matrix, 1.0
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return matrix - matrix.mean(axis=0), 1.0
    components: float | None = explained_variance if explained_variance < 1 else None
    pca = PCA(n_components=components, svd_solver="full", random_state=seed)
    vectors = pca.fit_transform(matrix)
    return vectors, float(pca.explained_variance_ratio_.sum())


# --- clusters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clusters:
    """K-Means over the item vectors: labels (-1 for items without a vector), centres, and
    the silhouette of each k tried (the chosen k has the highest)."""

    labels: IntArray
    centres: FloatArray
    silhouettes: dict[int, float]

    @property
    def k(self) -> int:
        return len(self.centres)


def fit_clusters(
    vectors: FloatArray, has_vector: BoolArray, tuning: ContentTuning, seed: int
) -> Clusters:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    labels = np.full(len(has_vector), -1, dtype=np.int64)
    points = vectors[has_vector]
    rng = np.random.default_rng(seed)
    sample = points
    if len(points) > tuning.cluster_sample:
        sample = points[rng.choice(len(points), tuning.cluster_sample, replace=False)]
    distinct = len(np.unique(sample, axis=0))
    candidates = [k for k in tuning.cluster_candidates if 2 <= k < distinct]
    if not candidates:
        centre = points.mean(axis=0, keepdims=True) if len(points) else vectors[:0]
        labels[has_vector] = 0
        return Clusters(labels, centre.astype(np.float32), {})

    silhouettes: dict[int, float] = {}
    models = {}
    # One thread: on a sample this small, OpenMP's start-up costs more than it saves.
    with threadpool_limits(1):
        for k in candidates:
            model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
            silhouettes[k] = float(
                silhouette_score(
                    sample,
                    model.labels_,
                    sample_size=min(tuning.silhouette_sample, len(sample)),
                    random_state=seed,
                )
            )
            models[k] = model
    best = max(candidates, key=lambda k: (silhouettes[k], -k))  # ties: fewer clusters
    labels[has_vector] = models[best].predict(points)
    return Clusters(labels, models[best].cluster_centers_.astype(np.float32), silhouettes)


# --- the model ----------------------------------------------------------------------------


class ContentSimilarity(Recommender):
    """Tracks that sound alike. `mode="genre"` keeps only tracks sharing a genre with the
    seed (or, for a member, with the genres most of their liked tracks have)."""

    kind = "content"

    def __init__(self, mode: str = "normal", seed: int = 0, **tuning: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.seed = int(seed)
        self.tuning = ContentTuning.from_options(tuning)
        self._catalog = _empty_catalog()
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._sq_norms = np.zeros(0, dtype=np.float32)
        self._has_vector = np.zeros(0, dtype=bool)
        self._reason_features: tuple[str, ...] = ()
        self._reason_penalties = np.zeros(0)
        self._reason_scores = np.zeros((0, 0), dtype=np.float32)
        self._item_genres = sp.csr_matrix((0, 0), dtype=np.float32)  # items x genres
        self._genre_items = sp.csc_matrix((0, 0), dtype=np.float32)  # the same, by genre
        self._genre_names: list[str] = []
        self._genre_sizes = np.zeros(0)
        self._clusters = Clusters(np.zeros(0, dtype=np.int64), np.zeros((0, 0)), {})
        self._users = Vocabulary([])
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._liked = sp.csr_matrix((0, 0), dtype=np.float32)
        # Per member row: summarising points and weights of a long profile (with_member).
        self._anchors: dict[int, tuple[FloatArray, FloatArray]] = {}
        self._played: frozenset[int] = frozenset()  # listened to only: reasons say so
        self._report: dict[str, Any] = {}
        self._encoder: TrackEncoder | None = None

    # --- fitting --------------------------------------------------------------------------

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        if catalog is None:
            raise ValueError("content similarity needs the item catalog (its audio features)")
        encoded = encode_features(catalog, self.tuning)
        kept_variance: float | None = None  # PCA's, for the features representation
        representation = self._usable_representation(catalog, encoded.has_vector)
        if representation == "features":
            self._encoder = None
            vectors, kept_variance = project(
                encoded.matrix[encoded.has_vector], self.tuning.explained_variance, self.seed
            )
            full = np.zeros((len(catalog), vectors.shape[1]))
            full[encoded.has_vector] = vectors
        else:
            full = self._learned_vectors(representation, catalog, encoded.has_vector)
        if self.tuning.metric == "cosine":
            lengths = np.linalg.norm(full, axis=1, keepdims=True)
            full = np.divide(full, lengths, out=np.zeros_like(full), where=lengths > 0)
        self._set_catalog(catalog)
        self._set_vectors(full.astype(np.float32), encoded.has_vector)
        self._set_reason_features(encoded.reason_features, encoded.reason_scores)
        self._clusters = fit_clusters(full, encoded.has_vector, self.tuning, self.seed)
        self._fit_users(interactions)
        self._report = {
            "items": len(catalog),
            "items_without_features": int((~encoded.has_vector).sum()),
            "features_used": list(encoded.used),
            "features_dropped": list(encoded.dropped),
            "representation": representation,
            "dimensions": int(full.shape[1]),
            "explained_variance": None if kept_variance is None else round(kept_variance, 4),
            "clusters": self._clusters.k,
            "silhouettes": {str(k): round(v, 4) for k, v in self._clusters.silhouettes.items()},
        }
        if self._encoder is not None:
            self._report["encoder"] = self._encoder.report
        return self

    def _usable_representation(self, catalog: ItemCatalog, has_vector: BoolArray) -> str:
        """The representation asked for, or "features" when a genre network would have
        too few tracks with a genre to learn from."""
        if self.tuning.representation != "genre-net":
            return self.tuning.representation
        labelled = sum(
            1
            for genres, usable in zip(catalog.genres, has_vector, strict=True)
            if genres and usable
        )
        return "genre-net" if labelled >= self.tuning.min_labelled_tracks else "features"

    def _learned_vectors(
        self, representation: str, catalog: ItemCatalog, has_vector: BoolArray
    ) -> FloatArray:
        """Item vectors from an encoder trained on this catalog (and its genres, for the
        genre network: in an evaluation, the genres the harness lets the model see), with
        genre columns appended when `genre_weight` asks for them."""
        from recommender.embeddings import fit_encoder

        self._encoder = fit_encoder(
            representation,
            catalog,
            self.seed,
            dimensions=self.tuning.embedding_dimensions,
            epochs=self.tuning.embedding_epochs,
            max_missing_share=self.tuning.max_missing_share,
        )
        vectors, embedded = self._encoder.embed_catalog(catalog)
        if not np.array_equal(embedded, has_vector):  # both apply the same missing rule
            raise AssertionError("the encoder and the features disagree on missing features")
        if self.tuning.genre_weight <= 0:
            return vectors.astype(np.float64)
        genres = _genre_columns(catalog, has_vector, self.tuning.genre_weight)
        full = np.zeros((len(catalog), len(genres)))
        if genres and has_vector.any():
            full[has_vector] = np.column_stack(genres)
        return np.hstack([vectors.astype(np.float64), full])

    def _set_catalog(self, catalog: ItemCatalog) -> None:
        self._catalog = catalog
        names = sorted({genre for genres in catalog.genres for genre in genres})
        position = {name: index for index, name in enumerate(names)}
        rows = [item for item, genres in enumerate(catalog.genres) for _ in genres]
        cols = [position[genre] for genres in catalog.genres for genre in genres]
        self._genre_names = names
        self._item_genres = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(catalog), len(names)),
        )
        self._genre_items = self._item_genres.tocsc()
        self._genre_sizes = np.asarray(self._item_genres.sum(axis=0)).ravel()

    def _set_vectors(self, vectors: npt.NDArray[np.float32], has_vector: BoolArray) -> None:
        self._vectors = np.ascontiguousarray(vectors)
        self._sq_norms = np.einsum("ij,ij->i", vectors, vectors)
        self._has_vector = has_vector

    def _set_reason_features(self, names: tuple[str, ...], scores: FloatArray) -> None:
        self._reason_features = names
        self._reason_scores = scores.astype(np.float32)
        self._reason_penalties = np.asarray([BACKGROUND_FEATURES.get(n, 0.0) for n in names])

    def _fit_users(self, interactions: Interactions) -> None:
        in_catalog = self._catalog.vocab.indices(interactions.items.tolist()) >= 0
        known = interactions.subset(in_catalog)
        self._users = known.user_vocab
        self._seen, self._liked = seen_and_liked(known.matrix(self._users, self._catalog.vocab))

    # --- reading ----------------------------------------------------------------------------

    @property
    def item_vocab(self) -> Vocabulary:
        return self._catalog.vocab

    @property
    def catalog(self) -> ItemCatalog:
        return self._catalog

    @property
    def report(self) -> dict[str, Any]:
        """What fitting found: features used and dropped, dimensions, clusters, silhouettes."""
        return dict(self._report)

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        """Item vectors (read-only view), rows in `item_vocab` order; zero without features."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    @property
    def clusters(self) -> Clusters:
        return self._clusters

    @property
    def has_vector(self) -> BoolArray:
        """Per item, whether it has audio features (a vector); read-only view."""
        view = self._has_vector.view()
        view.flags.writeable = False
        return view

    @property
    def reason_features(self) -> tuple[str, ...]:
        """The features reasons compare ("similar tempo and energy")."""
        return self._reason_features

    @property
    def reason_scores(self) -> npt.NDArray[np.float32]:
        """items x reason_features, in standard-deviation units; read-only view."""
        view = self._reason_scores.view()
        view.flags.writeable = False
        return view

    @property
    def reason_penalties(self) -> FloatArray:
        """Per reason feature, how much less it is worth naming (BACKGROUND_FEATURES)."""
        return self._reason_penalties.copy()

    @property
    def encoder(self) -> TrackEncoder | None:
        """The learned representation's encoder (None for "features"): `encoder.embed`
        gives a vector to a track the model has never seen, with no retraining."""
        return self._encoder

    def has_features(self, item: str) -> bool:
        index = self.item_vocab.index(item)
        return index >= 0 and bool(self._has_vector[index])

    def genres_of(self, item: str) -> tuple[str, ...]:
        index = self.item_vocab.index(item)
        return self._catalog.genres[index] if index >= 0 else ()

    def with_mode(self, mode: str) -> ContentSimilarity:
        """The same fitted model in another mode, sharing every array (nothing is copied)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.mode = mode
        return twin

    def with_users(self, interactions: Interactions) -> ContentSimilarity:
        """The same fitted model with members' likes taken from `interactions` (e.g. the
        feedback as it is now), sharing the item arrays: no refitting."""
        twin = self.with_mode(self.mode)
        twin._fit_users(interactions)
        return twin

    def with_member(
        self,
        interactions: Interactions,
        max_points: int = PROFILE_POINTS,
        played: Collection[str] = (),
    ) -> ContentSimilarity:
        """`with_users` for the one member in `interactions`, with their profile bounded:
        past `max_points` liked tracks it scores against weighted k-means centres of the
        liked vectors instead of every liked track (see `bounded_profile`). `played`: the
        tracks they only listened to, which reasons name as played."""
        twin = self.with_users(interactions)
        listened = self.item_vocab.indices(list(played))
        twin._played = frozenset(listened[listened >= 0].tolist())
        twin._anchors = {}
        for row in range(len(twin._users)):
            liked, weights = twin._liked_of(row)
            if len(liked) > max_points:
                points, mass = bounded_profile(
                    twin._vectors[liked], weights, max_points, seed=twin.seed
                )
                # In the vectors' own precision: scoring reads every track's vector.
                twin._anchors[row] = (points.astype(np.float32), mass.astype(np.float32))
        return twin

    # --- similarity -------------------------------------------------------------------------

    def similarity(self, anchors: IntArray, candidates: IntArray | None = None) -> Scores:
        """anchors x candidates (all items when None): higher is more alike; -inf where an
        item has no vector."""
        vectors = self._vectors if candidates is None else self._vectors[candidates]
        query = self._vectors[anchors]
        with _one_blas_thread():
            sims = query @ vectors.T  # float32 throughout: half the memory traffic of float64
        if self.tuning.metric == "euclidean":
            norms = self._sq_norms if candidates is None else self._sq_norms[candidates]
            sims *= -2
            sims += norms[None, :]
            sims += self._sq_norms[anchors][:, None]
            np.maximum(sims, 0, out=sims)
            np.sqrt(sims, out=sims)
            sims += 1
            np.reciprocal(sims, out=sims)
        offered = self._has_vector if candidates is None else self._has_vector[candidates]
        sims[:, ~offered] = -np.inf
        return sims

    def _sharing_genre(self, items: IntArray) -> BoolArray:
        """Items that share a genre with any of `items` (see `_in_genres`)."""
        return self._in_genres(np.unique(self._item_genres[items].indices))

    def _in_genres(self, genres: IntArray) -> BoolArray:
        """Items in any of `genres`, plus, with `unknown_genres="keep"`, items whose genre
        is unknown: nothing says they are off-genre (every imported track has a genre, but
        in an evaluation a track only known from a held-out playlist has none)."""
        mask = np.zeros(len(self._catalog), dtype=bool)
        if len(genres) == 0:
            return mask  # nothing to match: genre mode has no answer
        mask[self._genre_items[:, np.asarray(genres, dtype=np.int64)].indices] = True
        if self.tuning.unknown_genres == "keep":
            mask |= np.diff(self._item_genres.indptr) == 0
        return mask

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        return self.mix([item], k) if self.has_features(item) else []

    def mix(self, items: Sequence[str], k: int = 10) -> list[Recommendation]:
        """Tracks that blend 1 to 5 seed tracks: ranked by the mean similarity to the seeds,
        never a seed or another version of one. Unknown seeds, or seeds without audio
        features, are left out; with none left the list is empty."""
        k = check_k(k)
        unique = list(dict.fromkeys(items))
        if not 1 <= len(unique) <= MAX_MIX_SEEDS:
            raise ValueError(f"a mix takes 1 to {MAX_MIX_SEEDS} seed tracks, got {len(unique)}")
        seeds = self.item_vocab.indices(unique)
        seeds = seeds[seeds >= 0]
        seeds = seeds[self._has_vector[seeds]]
        if len(seeds) == 0:
            return []
        per_seed = self.similarity(seeds)
        scores = per_seed.mean(axis=0)
        scores[seeds] = -np.inf
        if self.mode == "genre":
            scores[~self._sharing_genre(seeds)] = -np.inf
        taken = [song_key(self._catalog, int(seed)) for seed in seeds]
        chosen = self._diversified(scores, k, taken)
        return [
            Recommendation(
                self.item_vocab.id_of(index),
                float(scores[index]),
                self._reason(int(seeds[np.argmax(per_seed[:, index])]), index),
            )
            for index in chosen
        ]

    def _diversified(
        self, scores: Scores, k: int, taken: Sequence[tuple[str, str]] = ()
    ) -> list[int]:
        """The best k of `scores` under the diversity rules, examining as few as needed."""
        finite = int(np.isfinite(scores).sum())
        pool = min(finite, max(MIN_POOL, POOL_PER_RESULT * k))
        while True:
            ranked = _best(scores, pool)
            chosen = diversify(ranked, self._catalog, k, taken_songs=taken)
            if len(chosen) >= k or pool >= finite:
                return chosen
            pool = min(finite, pool * 4)

    # --- members ----------------------------------------------------------------------------

    def _liked_of(self, row: int) -> tuple[IntArray, FloatArray]:
        start, end = self._liked.indptr[row], self._liked.indptr[row + 1]
        items = self._liked.indices[start:end].astype(np.int64)
        weights = self._liked.data[start:end].astype(np.float64)
        offered = self._has_vector[items]
        return items[offered], weights[offered]

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float32]:
        # float32, the vectors' precision: serving scores every track for every request.
        scores = np.full((len(users), len(self._catalog)), -np.inf, dtype=np.float32)
        for position, user in enumerate(users):
            row = self._users.index(str(user))
            if row < 0:
                continue  # nothing liked, nothing to be alike to
            liked, weights = self._liked_of(row)
            if len(liked) == 0:
                continue
            # In genre mode only the member's genres can score: work out just those (a
            # fifth of the catalog for a typical member), the rest stays -inf.
            candidates = (
                np.flatnonzero(self._genre_allowed(liked, weights) & self._has_vector)
                if self.mode == "genre"
                else None
            )
            if candidates is not None and len(candidates) == 0:
                continue
            anchors = self._anchors.get(row)
            if anchors is not None:
                found = self._anchor_scores(*anchors, candidates=candidates)
            else:
                found = self._profile_scores(liked, weights, candidates=candidates)
            if candidates is None:
                scores[position] = found
            else:
                scores[position, candidates] = found
        return scores

    def _profile_scores(
        self, liked: IntArray, weights: FloatArray, candidates: IntArray | None = None
    ) -> npt.NDArray[np.float32]:
        """The member's score of each candidate (every item when None) under the tuned
        profile, from every liked track."""
        profile = self.tuning.profile
        if profile == "centroid":
            return self._centroid_scores(liked, weights, candidates)
        width = len(self._catalog) if candidates is None else len(candidates)
        total = np.full(width, -np.inf if profile == "max" else 0.0, dtype=np.float32)
        for start in range(0, len(liked), LIKED_BLOCK):
            block = slice(start, start + LIKED_BLOCK)
            sims = self.similarity(liked[block], candidates)
            if profile == "max":
                np.maximum(total, sims.max(axis=0), out=total)
            else:
                sims[~np.isfinite(sims)] = 0.0
                total += weights[block].astype(np.float32) @ sims
        if profile == "mean":
            total /= weights.sum()
            total[~self._offered(candidates)] = -np.inf
        return total

    def _anchor_scores(
        self, points: FloatArray, weights: FloatArray, candidates: IntArray | None = None
    ) -> npt.NDArray[np.float32]:
        """The member's profile (as `_profile_scores`) over summarising points instead of
        liked tracks: a few vectors, each weighing what the liked tracks it stands for did."""
        query = np.asarray(points, dtype=np.float32)
        vectors = self._vectors if candidates is None else self._vectors[candidates]
        # Items by points (items down the rows): BLAS's faster way round for a few points.
        with _one_blas_thread():
            sims = vectors @ query.T
        if self.tuning.metric == "euclidean":
            norms = self._sq_norms if candidates is None else self._sq_norms[candidates]
            sims *= -2
            sims += norms[:, None]
            sims += np.einsum("ij,ij->i", query, query)[None, :]
            np.maximum(sims, 0, out=sims)
            np.sqrt(sims, out=sims)
            sims += 1
            np.reciprocal(sims, out=sims)
        profile = self.tuning.profile
        if profile == "max":
            total = sims.max(axis=1)
        else:  # "mean" (and "centroid", whose one point the exact form handles anyway)
            mass = np.asarray(weights, dtype=sims.dtype)
            total = sims @ mass
            total /= np.float32(mass.sum())
        total[~self._offered(candidates)] = -np.inf
        return total

    def _centroid_scores(
        self, liked: IntArray, weights: FloatArray, candidates: IntArray | None = None
    ) -> npt.NDArray[np.float32]:
        centre = (weights @ self._vectors[liked]) / weights.sum()
        vectors = self._vectors if candidates is None else self._vectors[candidates]
        if self.tuning.metric == "cosine":
            length = np.linalg.norm(centre)
            sims = vectors @ (centre / length if length > 0 else centre)
        else:
            distance = np.linalg.norm(vectors - centre, axis=1)
            sims = 1.0 / (1.0 + distance)
        sims = sims.astype(np.float32)
        sims[~self._offered(candidates)] = -np.inf
        return sims

    def _offered(self, candidates: IntArray | None) -> BoolArray:
        """Which of the candidates (every item when None) have a vector to compare."""
        return self._has_vector if candidates is None else self._has_vector[candidates]

    def _genre_allowed(self, liked: IntArray, weights: FloatArray) -> BoolArray:
        """Items in a genre held by at least `user_genre_share` of the liked weight (always
        at least the member's top genre)."""
        held = np.asarray(self._item_genres[liked].T @ weights).ravel()
        if held.sum() == 0:
            return np.zeros(len(self._catalog), dtype=bool)
        share = held / weights.sum()
        return self._in_genres(
            np.flatnonzero(share >= min(self.tuning.user_genre_share, share.max()))
        )

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def reason(self, user: str, item_index: int) -> str:
        row = self._users.index(user)
        liked = self._liked_of(row)[0] if row >= 0 else np.empty(0, dtype=np.int64)
        if len(liked) == 0 or not self._has_vector[item_index]:
            return "sounds like tracks you liked"
        sims = self.similarity(liked, np.asarray([item_index]))[:, 0]
        anchor = int(liked[np.argmax(sims)])
        why = self._reason(anchor, int(item_index))
        return f"{why}, which you played" if anchor in self._played else why

    # --- reasons ----------------------------------------------------------------------------

    def _reason(self, anchor: int, item: int) -> str:
        """'also indie pop, with similar energy and valence to Halo by Beyoncé'."""
        label = self._catalog.label(anchor)
        alike = self._agreeing_features(anchor, item)
        sound = f"similar {' and '.join(alike)} to {label}" if alike else f"sounds like {label}"
        genre = self._most_specific_shared_genre(anchor, item)
        return f"also {genre}, with {sound}" if genre else sound

    def _agreeing_features(self, anchor: int, item: int, count: int = 2) -> list[str]:
        """The features on which the two tracks agree most, preferring agreement away from
        the typical value (both very danceable says more than both average)."""
        if not self._reason_features:
            return []
        a = self._reason_scores[anchor].astype(np.float64)
        b = self._reason_scores[item].astype(np.float64)
        same_side = np.sign(a) == np.sign(b)
        distinctive = np.where(same_side, np.minimum(abs(a), abs(b)), 0.0)
        disagreement = abs(a - b) - 0.5 * distinctive + self._reason_penalties
        order = np.argsort(disagreement, kind="stable")[:count]
        return [self._reason_features[i].replace("_", " ") for i in order]

    def _most_specific_shared_genre(self, anchor: int, item: int) -> str | None:
        shared = set(self._catalog.genres[anchor]) & set(self._catalog.genres[item])
        if not shared:
            return None
        sizes = dict(zip(self._genre_names, self._genre_sizes.tolist(), strict=True))
        return min(shared, key=lambda genre: (sizes[genre], genre))

    # --- persistence ------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        catalog = self._catalog
        name_bytes, name_ends = _pack(catalog.names)
        artist_bytes, artist_ends = _pack([a for artists in catalog.artists for a in artists])
        genre_codes = self._item_genres
        params = {
            "mode": self.mode,
            "seed": self.seed,
            "tuning": asdict(self.tuning),
            "feature_names": list(catalog.feature_names),
            "reason_features": list(self._reason_features),
            "genre_names": self._genre_names,
            "silhouettes": {str(k): v for k, v in self._clusters.silhouettes.items()},
            "report": self._report,
        }
        arrays: Arrays = {
            "ids": catalog.ids,
            "name_bytes": name_bytes,
            "name_ends": name_ends,
            "artist_bytes": artist_bytes,
            "artist_ends": artist_ends,
            "artist_counts": np.asarray([len(a) for a in catalog.artists], dtype=np.int64),
            "genre_indptr": genre_codes.indptr,
            "genre_indices": genre_codes.indices,
            "popularity": catalog.popularity,
            "features": catalog.features,
            "years": catalog.release_years,
            "vectors": self._vectors,
            "has_vector": self._has_vector,
            "reason_scores": self._reason_scores,
            "cluster_labels": self._clusters.labels,
            "cluster_centres": self._clusters.centres,
            "users": self._users.ids,
            "seen_indptr": self._seen.indptr,
            "seen_indices": self._seen.indices,
            "liked_indptr": self._liked.indptr,
            "liked_indices": self._liked.indices,
            "liked_weights": self._liked.data,
        }
        if self._encoder is not None:
            encoder_params, encoder_arrays = self._encoder.state()
            params["encoder"] = encoder_params
            arrays.update({ENCODER_PREFIX + name: array for name, array in encoder_arrays.items()})
        return params, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls(mode=params["mode"], seed=params["seed"], **params["tuning"])
        genre_names = list(params["genre_names"])
        flat_genres = [genre_names[g] for g in arrays["genre_indices"].tolist()]
        item_genres = _split(flat_genres, np.diff(arrays["genre_indptr"]))
        flat_artists = _unpack(arrays["artist_bytes"], arrays["artist_ends"])
        artists = _split(flat_artists, arrays["artist_counts"])
        catalog = ItemCatalog(
            ids=arrays["ids"],
            names=_unpack(arrays["name_bytes"], arrays["name_ends"]),
            artists=artists,
            genres=item_genres,
            popularity=arrays["popularity"],
            features=arrays["features"],
            feature_names=tuple(params["feature_names"]),
            years=arrays.get("years"),
        )
        model._set_catalog(catalog)
        model._set_vectors(arrays["vectors"], arrays["has_vector"].astype(bool))
        model._set_reason_features(tuple(params["reason_features"]), arrays["reason_scores"])
        model._clusters = Clusters(
            arrays["cluster_labels"],
            arrays["cluster_centres"],
            {int(k): float(v) for k, v in params["silhouettes"].items()},
        )
        model._users = Vocabulary(arrays["users"])
        shape = (len(model._users), len(catalog))
        model._seen = sp.csr_matrix(
            (
                np.ones(len(arrays["seen_indices"]), dtype=np.float32),
                arrays["seen_indices"],
                arrays["seen_indptr"],
            ),
            shape=shape,
        )
        model._liked = sp.csr_matrix(
            (arrays["liked_weights"], arrays["liked_indices"], arrays["liked_indptr"]),
            shape=shape,
        )
        model._report = dict(params["report"])
        if "encoder" in params:
            from recommender.embeddings import TrackEncoder

            model._encoder = TrackEncoder.from_state(
                params["encoder"],
                {
                    name.removeprefix(ENCODER_PREFIX): array
                    for name, array in arrays.items()
                    if name.startswith(ENCODER_PREFIX)
                },
            )
        return model


# --- helpers ------------------------------------------------------------------------------


def _best(scores: Scores, count: int) -> IntArray:
    """Indices of (up to) the `count` highest finite scores, best first (ties: lower index).

    The hot path of a query. Only finite scores are partitioned: introselect slows down
    badly on many equal values, and genre mode sets most scores to -inf."""
    finite = np.flatnonzero(np.isfinite(scores))
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    if len(finite) > count:
        values = scores[finite]
        finite = finite[np.argpartition(values, len(values) - count)[len(values) - count :]]
    return finite[np.lexsort((finite, -scores[finite]))].astype(np.int64)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded libraries once per process


def _one_blas_thread() -> AbstractContextManager[object]:
    """BLAS on one thread for a query's products: they are too small to gain from threads,
    and on a busy machine (2 cores shared with the bot) threads made them 3-6x slower.
    The limit is process-wide while it lasts; concurrent queries at worst leave BLAS on
    one thread, which is what a serving process wants anyway."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _pack(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Strings as one UTF-8 byte array and end offsets: numpy's fixed-width unicode arrays
    would spend 4 bytes per character of the longest title on every track."""
    encoded = [text.encode("utf-8") for text in texts]
    ends = np.cumsum([len(chunk) for chunk in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), ends


def _unpack(data: npt.NDArray[np.uint8], ends: IntArray) -> list[str]:
    raw = data.tobytes()
    starts = [0, *ends[:-1].tolist()]
    return [
        raw[start:end].decode("utf-8") for start, end in zip(starts, ends.tolist(), strict=True)
    ]


def _split(flat: list[str], counts: IntArray) -> list[tuple[str, ...]]:
    """`flat` cut into consecutive tuples of `counts` items."""
    ends = np.cumsum(counts).tolist()
    return [
        tuple(flat[end - count : end]) for end, count in zip(ends, counts.tolist(), strict=True)
    ]


def _empty_catalog() -> ItemCatalog:
    return ItemCatalog(
        ids=np.array([], dtype="<U1"),
        names=[],
        artists=[],
        genres=[],
        popularity=np.zeros(0),
        features=np.zeros((0, 0)),
        feature_names=(),
    )
