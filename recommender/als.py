"""ALS: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008), implicit's CPU
`AlternatingLeastSquares` (conjugate-gradient solver).

From feedback to confidence
---------------------------
The Interactions weights are recommender/feedback.py's (like 1, love 2, a rating of 1..5
stars -1.5..2, skip -0.3, dislike -1.5) or, for datasets, play counts. Repeated (user,
item) rows are summed first; a pair summing to 0 is seen but carries no signal. Then:

1. Each pair's magnitude |w| is scaled (`scaling`, chosen on validation):
   "none" keeps it, "log" is log1p(|w|), "bm25" is BM25 as in implicit's
   `nearest_neighbours.bm25_weight` (K1=100, B=0.8) with artists/tracks as the documents
   and users as the terms, the orientation of implicit's Last.fm example: an item's
   weights are normalised by its total, and a user's by how many items they have (idf,
   clipped at 0 so a user with every item weighs nothing rather than negatively).
2. The scaled values are divided by their mean over the positive pairs, so `alpha` means
   the same whatever the scale: an average like counts 1 + alpha times an unobserved pair.
3. Confidence c = 1 + alpha * scaled / mean, always above the 1 every unobserved pair has.
   A positive pair is passed to implicit as +c (preference 1, confidence c); a negative
   pair (skip, dislike, a low rating) as -c, which implicit reads as preference 0 with
   confidence |value|: "Negative items can also be passed with a higher confidence value
   by passing a negative value, indicating that the user disliked the item"
   (`AlternatingLeastSquares.fit`), and in `implicit/cpu/_als.pyx` `_least_squares_cg`,
   `if confidence > 0: temp = confidence else: temp = 0; confidence = -1 * confidence`.
   implicit's own `alpha` is left at 1: the mapping above already applied it.

So a dislike pulls the user's vector away from that item harder than silence does, and
with it away from the items that the same listeners like: similar tracks drop
(tests/recommender/test_als.py shows it). Everything a user gave feedback on, dislikes
and skips included, is seen and never recommended to them again.

Choosing hyperparameters
------------------------
Any of `factors`, `regularization`, `alpha`, `scaling`, `iterations` left None is chosen
on a validation split of the training rows (recommender/factors.py): a coarse grid of
scaling x alpha (2, 10, 50) at 32 factors, regularization 0.1 and 10 iterations (cheap
fits), then alpha refined (x/÷ √5), regularization (0.01, 1), factors (64, 128) and
iterations (20) one at a time, each kept only if it beats the best NDCG@10 so far: 16
fits at most (about 27 CPU-seconds on Last.fm 2K). The best is refitted on all the
training rows. The table of every configuration tried is `ALS.tuning` (saved with the
model). Given values are never searched; with all five given there is no search, one fit
(`ALS(factors=64, regularization=1.0, alpha=2, scaling="bm25", iterations=20)`, what
Last.fm usually gets, or `model.configured(config)`). With fewer than 10 validation users
(users with two or more liked items) the search is skipped and `DEFAULTS` are used; the
tuning record says so.

Bad input: with no positive feedback at all (only skips and dislikes) nothing is
factorised and nothing is recommended (every score row is -inf: there is no taste and no
popularity to go on). Users without positive feedback, and unknown users, get the
popularity row.

Determinism: the random initial factors come from the model's seed; the solver updates
each user (then each item) from the other side's factors only, so its threads never
share a sum and the result does not depend on scheduling or on the thread count (1 and 2
threads give bit-identical factors on Last.fm), and BLAS runs single-threaded during the
fit. The same seed and data give the same search and the same factors.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.data import Interactions
from recommender.factors import (
    Config,
    FactorModel,
    FloatArray,
    Stage,
    one_blas_thread,
    positive_float,
    positive_int,
    seen_matrix,
    single_threaded_blas,
)

Scaling = Literal["none", "log", "bm25"]
SCALINGS: tuple[Scaling, ...] = ("none", "log", "bm25")
BM25_K1 = 100.0
BM25_B = 0.8
# Where the search starts, and what is used for anything not given when there are too few
# validation users to search.
DEFAULTS: Config = {
    "factors": 32,
    "regularization": 0.1,
    "alpha": 10.0,
    "scaling": "log",
    "iterations": 10,
}
# Below this many stored pairs one solver thread is faster: OpenMP's start-up and barriers
# cost more than the work (72 pairs: 0.8 s with 2 threads on a busy 2-core machine, 0.01 s
# with one). The factors do not depend on the thread count.
PARALLEL_FROM = 20_000


def _rounded(value: float) -> float:
    """Three significant digits: configurations read well and compare exactly."""
    return float(f"{value:.3g}")


STAGES = (
    Stage("coarse", lambda _: [{"scaling": s, "alpha": a} for s in SCALINGS for a in (2, 10, 50)]),
    Stage(
        "alpha",
        lambda best: [{"alpha": _rounded(best["alpha"] * f)} for f in (5**-0.5, 5**0.5)],
    ),
    Stage("regularization", lambda _: [{"regularization": r} for r in (0.01, 1.0)]),
    Stage("factors", lambda _: [{"factors": f} for f in (64, 128)]),
    Stage("iterations", lambda _: [{"iterations": 20}]),
)


def _bm25(magnitude: sp.csr_matrix) -> FloatArray:
    """BM25 of each stored entry of a users x items matrix, items as documents."""
    entries = magnitude.tocoo()
    users, items = magnitude.shape
    tf = entries.data.astype(np.float64)
    per_user = np.bincount(entries.row, minlength=users)
    idf = np.maximum(np.log(max(items, 1)) - np.log1p(per_user), 0.0)
    length = np.bincount(entries.col, weights=tf, minlength=items)
    norm = (1.0 - BM25_B) + BM25_B * length / max(float(length.mean()), 1e-12)
    return tf * (BM25_K1 + 1.0) / (BM25_K1 * norm[entries.col] + tf) * idf[entries.row]


def confidences(matrix: sp.csr_matrix, scaling: Scaling, alpha: float) -> sp.csr_matrix:
    """Summed users x items weights (no stored zeros) to implicit's signed confidences."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    matrix.eliminate_zeros()
    matrix.sort_indices()  # canonical, so the COO order below is the CSR order
    magnitude = np.abs(matrix.data)
    if scaling == "log":
        scaled = np.log1p(magnitude)
    elif scaling == "bm25":
        scaled = _bm25(sp.csr_matrix((magnitude, matrix.indices, matrix.indptr), matrix.shape))
    elif scaling == "none":
        scaled = magnitude
    else:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    positive = matrix.data > 0
    mean = float(scaled[positive].mean()) if positive.any() else 0.0
    relative = scaled / mean if mean > 0 else np.zeros_like(scaled)
    data = np.sign(matrix.data) * (1.0 + alpha * relative)
    return sp.csr_matrix((data.astype(np.float32), matrix.indices, matrix.indptr), matrix.shape)


class ALS(FactorModel):
    """Implicit-feedback ALS with a popularity fallback (see the module docstring).

    After `fit`, `chosen` holds the hyperparameters in use and `tuning` how they were
    chosen (None when all were given)."""

    kind = "als"
    defaults = DEFAULTS
    search_note = "coarse grid of scaling x alpha, then alpha, regularization, factors, iterations"

    def __init__(
        self,
        *,
        seed: int = 0,
        factors: int | None = None,
        regularization: float | None = None,
        iterations: int | None = None,
        alpha: float | None = None,
        scaling: Scaling | None = None,
        threads: int = 2,
    ) -> None:
        if scaling is not None and scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
        self.factors = positive_int("factors", factors)
        self.regularization = positive_float("regularization", regularization)
        self.iterations = positive_int("iterations", iterations)
        self.alpha = positive_float("alpha", alpha)
        self.scaling: Scaling | None = scaling
        # True for a model from `with_users`: user vectors are solved when scored.
        self._folded = False
        super().__init__(seed=seed, threads=threads)

    def _stages(self) -> Sequence[Stage]:
        return STAGES

    def _train(self, matrix: sp.csr_matrix, config: Config) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        self._profile = confidences(matrix, config["scaling"], config["alpha"])
        users, items = matrix.shape
        factors = int(config["factors"])
        if not (self._profile.data > 0).any():  # no taste anywhere: nothing to factorise
            self._user_factors = np.zeros((users, factors), dtype=np.float32)
            self._item_factors = np.zeros((items, factors), dtype=np.float32)
            return
        with single_threaded_blas():
            model = AlternatingLeastSquares(
                factors=factors,
                regularization=float(config["regularization"]),
                alpha=1.0,  # confidences() applied it
                iterations=int(config["iterations"]),
                num_threads=self.threads if self._profile.nnz >= PARALLEL_FROM else 1,
                random_state=self.seed,
            )
            model.fit(self._profile, show_progress=False)
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _derive(self) -> None:
        super()._derive()
        factors = np.asarray(self._item_factors, dtype=np.float64)
        regularization = float((self.chosen or DEFAULTS)["regularization"])
        self._regularized_gram = factors.T @ factors + regularization * np.eye(factors.shape[1])

    # --- folding in ----------------------------------------------------------------------

    def with_users(self, interactions: Interactions, played: Collection[str] = ()) -> ALS:
        """The same fitted item factors, each user's vector solved from their feedback in
        `interactions` (e.g. the feedback as it is now) when they are scored: a like counts
        at once, not only after the next retrain, and a member who joined since then is
        scored from their own likes instead of the popularity fallback.

        This is "folding in" (implicit's `recalculate_user`): ALS's user step, exact, with
        the item factors held fixed, x_u = (Y^T C_u Y + λI)^-1 Y^T C_u p_u, with the
        confidences of the trained scaling and alpha. A track the model was not trained on
        adds nothing until the next retrain. The item side is shared, not copied.

        `played`: items the members only listened to (plays, no reaction), which reasons
        name as played ("because you played X")."""
        twin = copy.copy(self)
        twin._users = interactions.user_vocab
        summed = interactions.matrix(twin._users, self._items)
        twin._seen = seen_matrix(summed)
        matrix = summed.copy()
        matrix.eliminate_zeros()  # a like undone by a dislike: seen, but no signal
        config = self.chosen or DEFAULTS
        twin._profile = confidences(matrix, config["scaling"], float(config["alpha"]))
        twin._user_factors = np.zeros((0, self._item_factors.shape[1]), dtype=np.float32)
        twin._folded = True
        listened = self._items.indices(list(played))
        twin._played = frozenset(listened[listened >= 0].tolist())
        twin._derive_users()
        return twin

    def _user_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        if not self._folded:
            return super()._user_rows(rows)
        vectors = np.empty((len(rows), self._item_vectors.shape[1]), dtype=np.float32)
        for position, row in enumerate(np.asarray(rows).tolist()):
            vectors[position] = self._solved_user(row)
        return vectors

    def _solved_user(self, row: int) -> FloatArray:
        """ALS's user step for one row of `_profile` (implicit's `user_linear_equation`)."""
        start, end = self._profile.indptr[row], self._profile.indptr[row + 1]
        signed = self._profile.data[start:end].astype(np.float64)
        confidence = np.abs(signed)
        vectors = self._item_vectors[self._profile.indices[start:end]]
        weighted = self._regularized_gram + (vectors.T * (confidence - 1.0)) @ vectors
        target = np.where(signed > 0, confidence, 0.0) @ vectors
        return np.linalg.solve(weighted, target)

    def state(self) -> tuple[dict[str, Any], Arrays]:
        if not self._folded:
            return super().state()
        # Saved as an ordinary model: every user's solved vector (zero without a taste).
        unfolded = copy.copy(self)
        factors = np.zeros((len(self._users), self._item_vectors.shape[1]), dtype=np.float32)
        with one_blas_thread():
            for row in np.flatnonzero(self._has_taste).tolist():
                factors[row] = self._solved_user(row)
        unfolded._user_factors = factors
        unfolded._folded = False
        return unfolded.state()

    def _contributions(
        self, row: int, liked: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> FloatArray:
        """implicit's `explain`: in ALS's closed form the score of item i is a sum over the
        user's items j of c_uj p_uj y_i^T W_u y_j, W_u = (Y^T C_u Y + λI)^-1; the terms of
        the liked items (p_uj = 1), for every item at once."""
        start, end = self._profile.indptr[row], self._profile.indptr[row + 1]
        signed = self._profile.data[start:end].astype(np.float64)
        confidence = np.abs(signed)
        vectors = self._latent_vectors[self._profile.indices[start:end]]
        weighted = self._regularized_gram + (vectors.T * (confidence - 1.0)) @ vectors
        directions = np.linalg.solve(weighted, self._latent_vectors[items].T)
        return (confidence[:, None] * (vectors @ directions))[signed > 0]
