"""The inputs every model trains from: an interaction snapshot and the catalog's items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.vocab import Vocabulary

FloatArray = npt.NDArray[np.float64]
# Up to this many rows a matrix is assembled with a few NumPy calls; SciPy's COO route
# costs a fixed ~0.2 ms of Python, which is most of a member's own matrix (built four times
# per member state), and wins only at training sizes.
SMALL_MATRIX = 4096


@dataclass(frozen=True)
class Interactions:
    """(user, item, weight, time) rows: feedback from the bot or a dataset's play counts.

    Weights may be negative (dislikes, skips); times are Unix seconds (0 when unknown).
    """

    users: npt.NDArray[np.str_]
    items: npt.NDArray[np.str_]
    weights: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        sizes = {len(self.users), len(self.items), len(self.weights), len(self.timestamps)}
        if len(sizes) != 1:
            raise ValueError("users, items, weights and timestamps must have the same length")
        if len(self.weights) and not np.all(np.isfinite(self.weights)):
            raise ValueError("interaction weights must be finite numbers (found NaN or inf)")

    @classmethod
    def from_rows(
        cls,
        users: Sequence[object],
        items: Sequence[object],
        weights: Sequence[float] | None = None,
        timestamps: Sequence[int] | None = None,
    ) -> Interactions:
        count = len(users)
        return cls(
            users=np.asarray([str(u) for u in users], dtype=np.str_),
            items=np.asarray([str(i) for i in items], dtype=np.str_),
            weights=np.asarray(weights if weights is not None else np.ones(count), dtype=float),
            timestamps=np.asarray(
                timestamps if timestamps is not None else np.zeros(count), dtype=np.int64
            ),
        )

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        return Interactions(
            self.users[mask], self.items[mask], self.weights[mask], self.timestamps[mask]
        )

    @cached_property
    def user_vocab(self) -> Vocabulary:
        return Vocabulary(self.users)

    @cached_property
    def item_vocab(self) -> Vocabulary:
        return Vocabulary(self.items)

    def matrix(
        self, users: Vocabulary | None = None, items: Vocabulary | None = None
    ) -> sp.csr_matrix:
        """Users x items, weights of repeated pairs summed; rows/columns outside the
        vocabularies are dropped."""
        users = users or self.user_vocab
        items = items or self.item_vocab
        rows = users.indices(self.users.tolist())
        cols = items.indices(self.items.tolist())
        keep = (rows >= 0) & (cols >= 0)
        shape = (len(users), len(items))
        if np.count_nonzero(keep) > SMALL_MATRIX:
            matrix = sp.csr_matrix((self.weights[keep], (rows[keep], cols[keep])), shape=shape)
            matrix.sum_duplicates()
            return matrix
        # The same canonical matrix: entries sorted by (row, column), repeats summed, a
        # pair whose weights sum to zero kept as an explicit zero (it was seen).
        cells, where = np.unique(
            rows[keep].astype(np.int64) * shape[1] + cols[keep], return_inverse=True
        )
        data = np.bincount(where, weights=self.weights[keep], minlength=len(cells))
        data = data.astype(self.weights.dtype, copy=False)  # none at all comes back int64
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cells // shape[1], minlength=shape[0]), out=indptr[1:])
        return sp.csr_matrix((data, cells % shape[1], indptr), shape=shape)


def seen_and_liked(
    matrix: sp.csr_matrix, liked_dtype: type[np.floating] = np.float32
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """From a canonical users x items feedback matrix: `seen`, 1.0 wherever the summed
    weight is not zero (dislikes too), and `liked`, the positive weights alone. Worked on
    the CSR arrays: no sparse arithmetic for a member's few rows."""
    seen = _entries(matrix, matrix.data != 0, np.float32)
    liked = _entries(matrix, matrix.data > 0, liked_dtype)
    seen.data[:] = 1.0
    return seen, liked


def _entries(
    matrix: sp.csr_matrix, keep: npt.NDArray[np.bool_], dtype: type[np.floating]
) -> sp.csr_matrix:
    """The entries of `matrix` where `keep`, as a CSR matrix of `dtype`."""
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    return sp.csr_matrix(
        (matrix.data[keep].astype(dtype), matrix.indices[keep], kept_before[matrix.indptr]),
        shape=matrix.shape,
    )


@dataclass(frozen=True)
class ItemCatalog:
    """The tracks a model may recommend, with what content models and reasons need."""

    ids: npt.NDArray[np.str_]
    names: list[str]
    artists: list[tuple[str, ...]]
    genres: list[tuple[str, ...]]
    popularity: FloatArray
    features: FloatArray  # items x len(feature_names); NaN where unknown
    feature_names: tuple[str, ...]
    # Release year per item, NaN where unknown; None: the source has no release dates at all.
    years: FloatArray | None = None
    vocab: Vocabulary = field(init=False, repr=False, compare=False)
    # Song keys worked out so far (recommender.diversity fills it as lists are diversified).
    song_keys: dict[int, tuple[str, str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        count = len(self.ids)
        lengths = {len(self.names), len(self.artists), len(self.genres), len(self.popularity)}
        if lengths != {count} and count:
            raise ValueError("every catalog column must have one entry per item")
        if self.features.shape != (count, len(self.feature_names)):
            raise ValueError("features must be items x feature_names")
        if self.years is not None and len(self.years) != count:
            raise ValueError("years must have one entry per item")
        object.__setattr__(self, "vocab", Vocabulary(self.ids))
        if len(self.vocab) != count:
            raise ValueError("catalog item ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def release_years(self) -> FloatArray:
        """Release year per item (NaN where unknown, all NaN without `years`)."""
        if self.years is None:
            return np.full(len(self.ids), np.nan)
        return np.asarray(self.years, dtype=np.float64)

    def main_artist(self, index: int) -> str:
        artists = self.artists[index]
        return artists[0] if artists else ""

    def label(self, index: int) -> str:
        """How a reason names a track: "Title" by "Artist"."""
        artist = self.main_artist(index)
        return f"{self.names[index]} by {artist}" if artist else self.names[index]


def row_items(matrix: sp.csr_matrix, row: int) -> npt.NDArray[np.int64]:
    """The column indices stored in one row of a CSR matrix (none for row -1, unknown)."""
    if row < 0:
        return np.empty(0, dtype=np.int64)
    return matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].astype(np.int64)


def item_labels(items: Vocabulary, catalog: ItemCatalog | None) -> npt.NDArray[np.str_]:
    """How reasons name items: "Title by Artist" from the catalog, else the id."""
    ids = items.ids
    if catalog is None or len(ids) == 0:
        return ids.copy()
    positions = catalog.vocab.indices(ids.tolist())
    labels = [
        catalog.label(int(position)) if position >= 0 else str(item)
        for item, position in zip(ids.tolist(), positions.tolist(), strict=True)
    ]
    return np.asarray(labels, dtype=np.str_)
