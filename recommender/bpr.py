"""BPR: Bayesian Personalised Ranking (Rendle et al. 2009), implicit's CPU
`BayesianPersonalizedRanking`, as a baseline for ALS.

BPR learns from which items a user liked, not how much: every pair whose summed weight is
positive is a 1 (implicit ignores the values), skips and dislikes are left out of training
but still seen, so never recommended again. Each SGD step samples a liked (user, item)
pair and an item the user has not liked, drawn from all stored pairs, i.e. in proportion
to popularity. implicit adds an item bias as the last factor column (users carry a 1
there); similarity and reasons use the other columns.

Hyperparameters left None are chosen on a validation split of the training rows, as for
ALS (recommender/factors.py): the defaults, then 5 more configurations drawn with the
model's seed from `GRID`, the best NDCG@10 refitted on all the rows; the table is
`BPR.tuning`. With fewer than 10 validation users, `DEFAULTS`.

Determinism: implicit's BPR is Hogwild SGD: with several threads, updates of the same item
race and the result depends on scheduling. So it runs on one thread by default
(`threads=1`), where the same seed gives the same model; it is fast enough (a Last.fm fit
of 200 epochs at 32 factors takes a few seconds).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.factors import (
    Config,
    FactorModel,
    FloatArray,
    Stage,
    positive_float,
    positive_int,
    single_threaded_blas,
)

DEFAULTS: Config = {
    "factors": 32,
    "learning_rate": 0.01,
    "regularization": 0.01,
    "iterations": 200,
}
# Kept small: BPR is the baseline, and one Last.fm fit takes seconds on one thread.
GRID: dict[str, tuple[Any, ...]] = {
    "factors": (32, 64),
    "learning_rate": (0.01, 0.02, 0.05),
    "regularization": (0.001, 0.01),
    "iterations": (100, 200),
}
SEARCH_SIZE = 6


def _sampled(seed: int) -> Stage:
    """The defaults, then configurations of GRID in an order drawn with `seed`."""

    def candidates(_: Config) -> list[Config]:
        grid = [
            dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())
        ]
        order = np.random.default_rng(seed).permutation(len(grid))
        return [dict(DEFAULTS), *(grid[int(i)] for i in order[: SEARCH_SIZE - 1])]

    return Stage("random", candidates)


class BPR(FactorModel):
    """BPR matrix factorisation with a popularity fallback (see the module docstring)."""

    kind = "bpr"
    defaults = DEFAULTS
    search_note = f"the defaults and {SEARCH_SIZE - 1} seeded draws from the grid"

    def __init__(
        self,
        *,
        seed: int = 0,
        factors: int | None = None,
        learning_rate: float | None = None,
        regularization: float | None = None,
        iterations: int | None = None,
        threads: int = 1,
    ) -> None:
        self.factors = positive_int("factors", factors)
        self.learning_rate = positive_float("learning_rate", learning_rate)
        self.regularization = positive_float("regularization", regularization)
        self.iterations = positive_int("iterations", iterations)
        super().__init__(seed=seed, threads=threads)

    def _stages(self) -> Sequence[Stage]:
        return [_sampled(self.seed)]

    def _train(self, matrix: sp.csr_matrix, config: Config) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        liked = sp.csr_matrix(matrix > 0, dtype=np.float32)
        liked.eliminate_zeros()
        liked.sort_indices()
        self._profile = liked
        users, items = matrix.shape
        factors = int(config["factors"])
        if liked.nnz == 0:  # no taste anywhere: nothing to learn
            self._user_factors = np.zeros((users, factors + 1), dtype=np.float32)
            self._item_factors = np.zeros((items, factors + 1), dtype=np.float32)
            return
        with single_threaded_blas():
            model = BayesianPersonalizedRanking(
                factors=factors,
                learning_rate=float(config["learning_rate"]),
                regularization=float(config["regularization"]),
                iterations=int(config["iterations"]),
                num_threads=self.threads,
                random_state=self.seed,
            )
            model.fit(liked, show_progress=False)
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _latent(self, item_factors: npt.NDArray[np.floating]) -> FloatArray:
        """Without the bias column: reasons and similarity are about what items are like."""
        return np.asarray(item_factors[:, :-1], dtype=np.float64)
