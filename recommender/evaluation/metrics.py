"""Ranking metrics over a batch of users, vectorised over dense score matrices.

Every function takes rows = users and columns = the items of the evaluation, with
`relevant` marking each user's held-out items and `candidates` the items that may be
ranked for that user (everything but their train items in full ranking; their sampled
items in the sampled protocol). Relevant items are always candidates.

How a relevant item ranks (one rule for every metric, and it never flatters a model):

    rank = 1 + (candidates that are not relevant scoring >= its score)
             + (relevant items of the same user ranked before it)

Ties are pessimistic: a relevant item tied with irrelevant ones ranks after all of them,
so a model giving every item the same score finds nothing (HR@k = 0 when more than k
irrelevant candidates exist). Relevant items tied with each other take consecutive ranks
(which of them comes first does not change any metric). A relevant item scored -inf or
NaN (the model cannot offer it, e.g. it never saw it in train) has rank inf: a miss.

The lists that coverage and genre precision look at are the ones the bot would show:
the top k finite-scored candidates, ties to the lower column, as `recommender.base.top_k`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
BoolMatrix = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
TIES = "pessimistic"
# Pairs compared against a full score row at once; bounds memory to ~this x items x 8 bytes.
_CHUNK = 128


@dataclass(frozen=True)
class RelevantRanks:
    """Every (user row, relevant item) pair's rank, sorted by row and then by rank."""

    row: IntArray
    rank: FloatArray  # 1-based; inf when the model could not rank the item
    position: IntArray  # 0-based order of the item among its row's relevant items
    beaten: IntArray  # irrelevant candidates scored strictly lower (for AUC)
    n_relevant: IntArray  # per row
    n_negatives: IntArray  # per row: candidates that are not relevant

    @property
    def n_rows(self) -> int:
        return len(self.n_relevant)


def rank_relevant(
    scores: npt.NDArray[np.floating], relevant: BoolMatrix, candidates: BoolMatrix
) -> RelevantRanks:
    """Pessimistic ranks of each row's relevant items among its candidates (see above)."""
    if not scores.shape == relevant.shape == candidates.shape:
        raise ValueError("scores, relevant and candidates must have the same shape")
    clean = np.where(np.isnan(scores), -np.inf, scores)
    negatives = candidates & ~relevant
    negative_scores = np.where(negatives, clean, -np.inf)
    rows, columns = np.nonzero(relevant)
    target = clean[rows, columns]

    at_least = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), _CHUNK):
        part = slice(start, start + _CHUNK)
        at_least[part] = (negative_scores[rows[part]] >= target[part, None]).sum(axis=1)

    order = np.lexsort((-target, rows))
    rows, target, at_least = rows[order], target[order], at_least[order]
    position = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    n_negatives = negatives.sum(axis=1).astype(np.int64)
    ranked = np.isfinite(target)
    rank = np.where(ranked, position + 1 + at_least, np.inf).astype(np.float64)
    beaten = np.where(ranked, n_negatives[rows] - at_least, 0)
    return RelevantRanks(
        row=rows.astype(np.int64),
        rank=rank,
        position=position.astype(np.int64),
        beaten=beaten.astype(np.int64),
        n_relevant=relevant.sum(axis=1).astype(np.int64),
        n_negatives=n_negatives,
    )


def _per_row(ranks: RelevantRanks, values: FloatArray) -> FloatArray:
    return np.bincount(ranks.row, weights=values, minlength=ranks.n_rows)


def _hits(ranks: RelevantRanks, k: int) -> FloatArray:
    return (ranks.rank <= k).astype(np.float64)


def _no_relevant_is_nan(ranks: RelevantRanks, values: FloatArray) -> FloatArray:
    return np.where(ranks.n_relevant > 0, values, np.nan)


def hit_rate(ranks: RelevantRanks, k: int) -> FloatArray:
    """1 when at least one relevant item is in the top k, per row."""
    return _no_relevant_is_nan(ranks, (_per_row(ranks, _hits(ranks, k)) > 0).astype(float))


def precision(ranks: RelevantRanks, k: int) -> FloatArray:
    """Relevant items in the top k, divided by k."""
    return _no_relevant_is_nan(ranks, _per_row(ranks, _hits(ranks, k)) / k)


def recall(ranks: RelevantRanks, k: int) -> FloatArray:
    """Relevant items in the top k, divided by the row's number of relevant items."""
    found = _per_row(ranks, _hits(ranks, k))
    return _no_relevant_is_nan(ranks, found / np.maximum(ranks.n_relevant, 1))


def ndcg(ranks: RelevantRanks, k: int) -> FloatArray:
    """Binary-gain DCG of the top k (gain 1/log2(rank + 1)) over the best achievable."""
    gains = np.where(ranks.rank <= k, 1.0 / np.log2(ranks.rank + 1.0), 0.0)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    best = ideal[np.minimum(ranks.n_relevant, k)]
    return _no_relevant_is_nan(ranks, _per_row(ranks, gains) / np.where(best > 0, best, 1.0))


def average_precision(ranks: RelevantRanks, k: int) -> FloatArray:
    """AP@k: the mean over relevant items in the top k of the precision at their rank,
    divided by min(relevant items, k) so that finding fewer lowers it."""
    found_so_far = ranks.position + 1.0
    at_rank = np.where(ranks.rank <= k, found_so_far / ranks.rank, 0.0)
    denominator = np.maximum(np.minimum(ranks.n_relevant, k), 1)
    return _no_relevant_is_nan(ranks, _per_row(ranks, at_rank) / denominator)


def reciprocal_rank(ranks: RelevantRanks, k: int) -> FloatArray:
    """1 / rank of the first relevant item when it is in the top k, else 0."""
    first = (ranks.position == 0) & (ranks.rank <= k)
    return _no_relevant_is_nan(ranks, _per_row(ranks, np.where(first, 1.0 / ranks.rank, 0.0)))


def auc(ranks: RelevantRanks) -> FloatArray:
    """Share of (relevant, irrelevant candidate) pairs ordered correctly, per row.

    Ties count as wrongly ordered (pessimistic, like the ranks), so a constant model scores
    0, not 0.5; irrelevant candidates the model cannot score (-inf) are beaten by any
    finite relevant score. NaN for rows without irrelevant candidates."""
    negatives = ranks.n_negatives[ranks.row]
    share = np.where(negatives > 0, ranks.beaten / np.maximum(negatives, 1), 0.0)
    per_row = _per_row(ranks, share) / np.maximum(ranks.n_relevant, 1)
    return np.where((ranks.n_relevant > 0) & (ranks.n_negatives > 0), per_row, np.nan)


# --- the lists a member would see: coverage and genre precision ----------------------


def top_k_mask(scores: npt.NDArray[np.floating], candidates: BoolMatrix, k: int) -> BoolMatrix:
    """Per row, the top k finite-scored candidates (ties to the lower column), as a mask."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    masked = np.where(candidates & np.isfinite(scores), scores, -np.inf)
    take = min(k, masked.shape[1])
    if take == 0:
        return np.zeros(masked.shape, dtype=bool)
    kth = -np.partition(-masked, take - 1, axis=1)[:, take - 1 : take]
    above = masked > kth
    tied = (masked == kth) & np.isfinite(masked)
    room = take - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def coverage(recommended: npt.NDArray[np.bool_]) -> float:
    """Catalog coverage: the share of all items that are in at least one user's top k.

    `recommended` is one flag per item: the union of every evaluated user's top-k mask."""
    return float(recommended.mean()) if recommended.size else float("nan")


def query_genres(profiles: sp.csr_matrix | BoolMatrix, item_genres: sp.csr_matrix) -> BoolMatrix:
    """The genres a user's query stands for: every genre on at least half of their train
    items (the playlist's own genre, for a playlist), or the most common ones when no
    genre reaches half. `profiles` is users x items (nonzero = in train)."""
    binary = sp.csr_matrix(profiles, dtype=np.float64)
    binary.data[:] = 1.0
    counts = np.asarray((binary @ item_genres).todense())
    sizes = np.asarray(binary.sum(axis=1)).ravel()
    threshold = np.minimum(sizes / 2.0, counts.max(axis=1, initial=0.0))
    return (counts >= threshold[:, None]) & (counts > 0)


def genre_precision(top: BoolMatrix, queries: BoolMatrix, item_genres: sp.csr_matrix) -> FloatArray:
    """Share of each row's top-k items that share a genre with the row's query genres.

    NaN for rows with an empty list or no query genres (nothing to compare)."""
    matches = np.asarray((sp.csr_matrix(queries, dtype=np.float64) @ item_genres.T).todense()) > 0
    listed = top.sum(axis=1)
    shared = (top & matches).sum(axis=1)
    defined = (listed > 0) & queries.any(axis=1)
    return np.where(defined, shared / np.maximum(listed, 1), np.nan)
