"""Item-kNN: "people who like X also like this", from cosine item-item similarity.

Each item keeps its `neighbours` most cosine-similar items over the users x items matrix
of positive feedback; a user's score for an item is the sum, over the items they like, of
their weight times that item's similarity to it (Deshpande & Karypis 2004).

The similarity is computed here with scipy (X^T X over column-normalised X, then a per-row
top-N cut) rather than with implicit's CosineRecommender. At our sizes (Last.fm 2K: 17,632
items, 2.7 million co-occurring pairs) it takes under a second, and the result is exactly
the sparse matrix we save and read reasons from. implicit keeps each item as its own
neighbour (spending one of the N slots on it); here an item is never its own neighbour and
ties at the cut go to the lower item index, so the same data always gives the same model.
With the same 20 neighbours its HR@10 on Last.fm matches implicit's within noise
(docs/benchmarks.md).

How many neighbours to keep depends on the data (on Last.fm, the more the better: 20 lose
a sixth of the hits), so by default `fit` chooses it on a validation split carved from the
training interactions it is given, never from anything else: one positive (user, item) pair
held out per user with at least two (seeded, the harness's leave-one-out), every size of
`NEIGHBOUR_GRID` fitted on the rest and scored by NDCG@10 over a full ranking without the
user's train items, pessimistic ties, exactly as `earworm eval` counts; the best size (ties
to the smaller) is then fitted on all the training data. The validation table is part of
the model's saved parameters (`ItemKNN.tuning`). An explicit `neighbours` skips all this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.base import Recommendation, Recommender, check_k, top_k
from recommender.data import Interactions, ItemCatalog, item_labels, row_items
from recommender.popularity import popular_reason
from recommender.vocab import Vocabulary

if TYPE_CHECKING:
    from recommender.evaluation.splits import Split

Weighting = Literal["binary", "log"]
WEIGHTINGS: tuple[Weighting, ...] = ("binary", "log")
# A neighbour count, or "all": every item that shares a user with the item.
Neighbours = int | Literal["all"]
NEIGHBOUR_GRID: tuple[Neighbours, ...] = (10, 20, 50, 100, 200, 400, 1000, "all")
# What tuning maximises (ties to the smaller neighbour count), and the list length it uses.
TUNING_METRIC = "ndcg@10"
TUNING_K = 10
# Validation users scored at once: bounds the sparse score rows held in memory.
_TUNING_BATCH = 256
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _weighted(matrix: sp.csr_matrix, weighting: Weighting) -> sp.csr_matrix:
    """Positive feedback only (a dislike says nothing about what else a user likes)."""
    positive = matrix.multiply(matrix > 0).tocsr()
    positive.eliminate_zeros()
    positive.data = (
        np.ones_like(positive.data) if weighting == "binary" else np.log1p(positive.data)
    )
    return positive


def _seen(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Users x items, 1 wherever there is any feedback (even a dislike): never recommended."""
    seen = matrix.copy()
    seen.data = np.ones_like(seen.data, dtype=np.float32)
    return sp.csr_matrix(seen, dtype=np.float32)


def _popularity(profiles: sp.csr_matrix) -> FloatArray:
    """Users with positive feedback, per item."""
    return np.diff(profiles.tocsc().indptr).astype(np.float64)


def _cosine(user_items: sp.csr_matrix) -> sp.csr_matrix:
    """Items x items cosine similarity, without the diagonal or zeros, indices sorted."""
    columns = user_items.tocsc().astype(np.float64)
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
    normalised = columns @ sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0))
    similarity = (normalised.T @ normalised).tocsr()
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    similarity.sort_indices()
    return similarity


def _rank_in_row(similarity: sp.csr_matrix) -> IntArray:
    """For every stored entry, its 0-based place in its row: most similar first, ties to the
    lower item index."""
    rows = np.repeat(np.arange(similarity.shape[0]), np.diff(similarity.indptr))
    order = np.lexsort((similarity.indices, -similarity.data, rows))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - similarity.indptr[rows[order]]
    return rank


def _keep_nearest(similarity: sp.csr_matrix, rank: IntArray, neighbours: int) -> sp.csr_matrix:
    """`similarity` with only the entries ranked below `neighbours` in their row."""
    keep = rank < neighbours
    kept_per_row = _row_counts(keep, similarity.indptr)
    indptr = np.concatenate([[0], np.cumsum(kept_per_row)])
    return sp.csr_matrix(
        (similarity.data[keep], similarity.indices[keep], indptr), shape=similarity.shape
    )


def _row_counts(flags: npt.NDArray[np.bool_], indptr: npt.NDArray[np.integer]) -> IntArray:
    """How many stored entries of each row of a CSR matrix are flagged."""
    running = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return running[indptr[1:]] - running[indptr[:-1]]


def cosine_neighbours(user_items: sp.csr_matrix, neighbours: Neighbours) -> sp.csr_matrix:
    """Items x items: row i holds the `neighbours` items most cosine-similar to item i
    (never i itself), ties to the lower item index; "all" keeps every item sharing a user
    with i. Zero similarities are not stored."""
    similarity = _cosine(user_items)
    if neighbours == "all":
        return similarity
    return _keep_nearest(similarity, _rank_in_row(similarity), neighbours)


def validation_split(interactions: Interactions, seed: int) -> Split:
    """What tuning validates on, from the training interactions only: one positive pair
    held out per user with at least two (seeded), as the harness's leave-one-out."""
    # Imported here: recommender.evaluation imports this module (its model registry).
    from recommender.evaluation.splits import leave_one_out

    return leave_one_out(interactions, seed=seed, min_interactions=2)


def held_out_ranks(
    scored: sp.csr_matrix, seen: sp.csr_matrix, held: IntArray, popularity: FloatArray
) -> FloatArray:
    """Where each row's one held-out item ranks, exactly as `earworm eval` would rank it in
    the `ItemKNN.score_users` row among the items the user has not seen (pessimistic ties),
    without building the dense rows. A held-out item of -1 (the model never saw it) is a
    miss: rank inf.

    `scored` holds the neighbour scores (profile @ similarity, all positive); every other
    item scores below them, in the order of `popularity`. `seen` marks each row's train
    items."""
    rows = np.arange(len(held))
    known = held >= 0
    target = np.zeros(len(held))
    target[known] = np.asarray(scored[rows[known], held[known]]).ravel()
    reached = target > 0
    seen_scored = scored.multiply(seen).tocsr()  # reached, but train items: not candidates
    per_row = np.diff(scored.indptr)
    seen_per_row = np.diff(seen_scored.indptr)
    # A reached item outranks every unreached one, so only reached candidates can tie or
    # beat it (the held-out item itself counted once too many).
    at_least = (
        _row_counts(scored.data >= np.repeat(target, per_row), scored.indptr)
        - _row_counts(seen_scored.data >= np.repeat(target, seen_per_row), seen_scored.indptr)
        - 1
    )
    below = np.flatnonzero(known & ~reached)
    if len(below):
        # Below the neighbours the order is popularity's: candidates at least as popular are
        # all items that are, less those reached or seen (and the held-out item itself).
        bar = popularity[held[below]]
        as_popular = len(popularity) - np.searchsorted(np.sort(popularity), bar, side="left")

        def at_least_as_popular(matrix: sp.csr_matrix) -> IntArray:
            part = matrix[below]
            flags = popularity[part.indices] >= np.repeat(bar, np.diff(part.indptr))
            return _row_counts(flags, part.indptr)

        at_least[below] = (
            (per_row[below] - seen_per_row[below])
            + as_popular
            - at_least_as_popular(scored)
            - at_least_as_popular(seen)
            + at_least_as_popular(seen_scored)
            - 1
        )
    return np.where(known, 1.0 + at_least, np.inf)


def _batches(count: int) -> list[slice]:
    return [slice(start, start + _TUNING_BATCH) for start in range(0, count, _TUNING_BATCH)]


def _grid(grid: Sequence[Neighbours]) -> tuple[Neighbours, ...]:
    """The distinct sizes, smallest first, "all" last."""
    if not grid:
        raise ValueError("the neighbour grid must not be empty")
    sizes = {_neighbours(size) for size in grid}
    return tuple(sorted(sizes, key=lambda size: np.inf if size == "all" else size))


def _neighbours(value: object) -> Neighbours:
    """A valid neighbour count as a plain int (it is saved as JSON), or "all"."""
    if value == "all":
        return "all"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"neighbours must be a positive integer or 'all', got {value!r}")
    if value < 1:
        raise ValueError(f"neighbours must be at least 1, got {value}")
    return int(value)


def _validation_table(
    interactions: Interactions, grid: Sequence[Neighbours], weighting: Weighting, seed: int
) -> tuple[int, list[dict[str, Any]]]:
    """The validation users, and HR@10 and NDCG@10 of each size of `grid` on them (None when
    there is no one to validate on): a model of that size fitted on the validation train
    rows, ranked as `earworm eval` ranks (`held_out_ranks`)."""
    if len(interactions) == 0:
        return 0, [_row(size, None) for size in grid]
    split = validation_split(interactions, seed)
    # The validation model's own vocabularies: a held-out item that no one else has is
    # unknown to it (-1), a miss, as it would be in the harness.
    users, items = split.train.user_vocab, split.train.item_vocab
    held_users = users.indices(split.test.users.tolist())
    held_items = items.indices(split.test.items.tolist())
    if len(held_users) == 0:
        return 0, [_row(size, None) for size in grid]
    matrix = split.train.matrix(users, items)
    profiles = _weighted(matrix, weighting)
    seen = _seen(matrix)
    popularity = _popularity(profiles)
    similarity = _cosine(profiles)
    rank = _rank_in_row(similarity)
    widest = int(np.diff(similarity.indptr).max(initial=0))
    by_cut: dict[int, FloatArray] = {}  # a cut past the widest row keeps them all
    table = []
    for size in grid:
        cut = widest if size == "all" else min(size, widest)
        if cut not in by_cut:
            kept = _keep_nearest(similarity, rank, cut)
            by_cut[cut] = np.concatenate(
                [
                    held_out_ranks(
                        profiles[held_users[part]] @ kept,
                        seen[held_users[part]],
                        held_items[part],
                        popularity,
                    )
                    for part in _batches(len(held_users))
                ]
            )
        table.append(_row(size, by_cut[cut]))
    return len(held_users), table


def _row(size: Neighbours, ranks: FloatArray | None) -> dict[str, Any]:
    """One line of the validation table: HR and NDCG at TUNING_K from each user's rank."""
    # Imported here: recommender.evaluation imports this module (its model registry).
    from recommender.evaluation import metrics

    if ranks is None:
        return {"neighbours": size, f"hr@{TUNING_K}": None, TUNING_METRIC: None}
    count = len(ranks)
    one_each = metrics.RelevantRanks(
        row=np.arange(count),
        rank=ranks,
        position=np.zeros(count, dtype=np.int64),
        beaten=np.zeros(count, dtype=np.int64),  # for AUC, not computed here
        n_relevant=np.ones(count, dtype=np.int64),
        n_negatives=np.zeros(count, dtype=np.int64),  # for AUC, not computed here
    )
    return {
        "neighbours": size,
        f"hr@{TUNING_K}": float(np.mean(metrics.hit_rate(one_each, TUNING_K))),
        TUNING_METRIC: float(np.mean(metrics.ndcg(one_each, TUNING_K))),
    }


class ItemKNN(Recommender):
    """Cosine item-item neighbours over positive feedback, with popularity underneath.

    Items that no liked item points to still get a score, below every neighbour score:
    their popularity mapped into [-1, 0). A member whose likes reach few items then still
    gets a full list, the neighbours first. Users with no likes get the popularity ranking.

    `neighbours=None` (the default) chooses the count from `grid` on a validation split of
    the training data drawn with `seed` (module docstring); after `fit`,
    `chosen_neighbours` is the count in use and `tuning` the validation table (None when
    `neighbours` was given).
    """

    kind = "itemknn"

    def __init__(
        self,
        neighbours: Neighbours | None = None,
        *,
        seed: int = 0,
        weighting: Weighting = "binary",
        grid: Sequence[Neighbours] = NEIGHBOUR_GRID,
    ) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}")
        self.neighbours = None if neighbours is None else _neighbours(neighbours)
        self.seed = int(seed)
        self.weighting: Weighting = weighting
        self.grid = _grid(grid)
        self.chosen_neighbours: Neighbours | None = self.neighbours
        self.tuning: dict[str, Any] | None = None
        self._users = Vocabulary([])
        self._items = Vocabulary([])
        self._labels = np.array([], dtype=np.str_)
        self._profiles = sp.csr_matrix((0, 0))  # users x items, weighted positive feedback
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)  # any feedback, even dislikes
        self._similarity = sp.csr_matrix((0, 0))
        self._popularity = np.zeros(0)

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        self._users = interactions.user_vocab
        self._items = interactions.item_vocab
        if self.neighbours is None:
            self.tuning = self._tune(interactions)
            self.chosen_neighbours = self.tuning["chosen"]
        else:
            self.tuning = None
            self.chosen_neighbours = self.neighbours
        matrix = interactions.matrix(self._users, self._items)
        self._profiles = _weighted(matrix, self.weighting)
        self._seen = _seen(matrix)
        self._similarity = cosine_neighbours(self._profiles, self.chosen_neighbours)
        self._popularity = _popularity(self._profiles)
        self._labels = item_labels(self._items, catalog)
        return self

    def _tune(self, interactions: Interactions) -> dict[str, Any]:
        """The validation table of every grid size, and the size chosen from it."""
        users, table = _validation_table(interactions, self.grid, self.weighting, self.seed)
        # The best NDCG@10; max() keeps the first of equals, so ties go to the smaller size.
        # With no one to validate on every size ties: the smallest.
        best = max(table, key=lambda row: row[TUNING_METRIC]) if users else table[0]
        return {
            "chosen": best["neighbours"],
            "metric": TUNING_METRIC,
            "seed": self.seed,
            "validation_users": users,
            "table": table,
        }

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float64]:
        rows = self._users.indices(users)
        has_taste = rows >= 0
        has_taste[has_taste] = np.diff(self._profiles.indptr)[rows[has_taste]] > 0
        scores = np.tile(self._popularity, (len(users), 1))
        if has_taste.any():
            below_neighbours = self._popularity / (self._popularity.max() + 1.0) - 1.0
            scores[has_taste] = below_neighbours
            product = (self._profiles[rows[has_taste]] @ self._similarity).tocoo()
            taste_rows = np.flatnonzero(has_taste)
            scores[taste_rows[product.row], product.col] = product.data
        return scores

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def reason(self, user: str, item_index: int) -> str:
        row = self._users.index(user)
        if row >= 0:
            start, end = self._profiles.indptr[row], self._profiles.indptr[row + 1]
            liked = self._profiles.indices[start:end]
            if len(liked):
                contribution = (
                    self._profiles.data[start:end]
                    * np.asarray(self._similarity[liked, item_index].todense()).ravel()
                )
                if contribution.max() > 0:
                    source = liked[int(np.argmax(contribution))]
                    return f"people who like {self._labels[source]} also like this"
        return popular_reason(int(self._popularity[item_index]))

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        index = self._items.index(item)
        if index < 0:
            return []
        row = np.full(len(self._items), -np.inf)
        start, end = self._similarity.indptr[index], self._similarity.indptr[index + 1]
        row[self._similarity.indices[start:end]] = self._similarity.data[start:end]
        row[index] = -np.inf
        reason = f"people who like {self._labels[index]} also like this"
        return [
            Recommendation(self._items.id_of(int(j)), float(row[j]), reason) for j in top_k(row, k)
        ]

    # --- persistence ----------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        params = {
            "neighbours": self.neighbours,
            "chosen_neighbours": self.chosen_neighbours,
            "seed": self.seed,
            "weighting": self.weighting,
            "grid": list(self.grid),
            "tuning": self.tuning,
        }
        return params, {
            "users": self._users.ids,
            "items": self._items.ids,
            "labels": self._labels,
            "popularity": self._popularity,
            **_csr_arrays("profiles", self._profiles),
            **_csr_arrays("seen", self._seen),
            **_csr_arrays("similarity", self._similarity),
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls(
            neighbours=params["neighbours"],
            seed=int(params.get("seed", 0)),
            weighting=params["weighting"],
            grid=params.get("grid", NEIGHBOUR_GRID),
        )
        model.chosen_neighbours = params.get("chosen_neighbours", params["neighbours"])
        model.tuning = params.get("tuning")
        model._users = Vocabulary(arrays["users"])
        model._items = Vocabulary(arrays["items"])
        model._labels = arrays["labels"]
        model._popularity = arrays["popularity"]
        n_users, n_items = len(model._users), len(model._items)
        model._profiles = _csr_from("profiles", arrays, (n_users, n_items))
        model._seen = _csr_from("seen", arrays, (n_users, n_items))
        model._similarity = _csr_from("similarity", arrays, (n_items, n_items))
        return model


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> Arrays:
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
    }


def _csr_from(name: str, arrays: Arrays, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
        shape=shape,
    )
