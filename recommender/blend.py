"""Putting scores of different models on one scale, and choosing blend weights.

Collaborative scores (ALS dot products), content similarities (cosines) and popularity
(listener counts) live on unrelated scales, so each model's row is standardised per user
(z-scores over the items it can score) before the hybrid adds them up. What an item a model
cannot score gets instead is the `fill` rule: "lowest" (the row's minimum: what the
hybrid uses for every model, see recommender.hybrid.UNSCORED) or "neutral" (0, the row's
mean).

Blend weights are chosen by NDCG@10 over a full ranking with pessimistic ties, the same
counting as `earworm eval` (recommender.evaluation.metrics), on a validation split carved
from the training rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Fill = Literal["neutral", "lowest"]


def standardise(rows: npt.NDArray[np.floating], fill: Fill) -> FloatMatrix:
    """Per-row z-scores over the finite entries; the other entries get the `fill` value.

    A row with no finite entry is all zeros (the model knows nothing of this user); a row
    whose finite entries are all equal has z = 0 there. The mean and spread are summed in
    float64, the z-scores kept in float32: serving standardises every component's row of
    every request, so this runs in a few passes over the row, not a dozen."""
    rows = np.asarray(rows)
    if rows.dtype not in (np.float32, np.float64):
        rows = rows.astype(np.float64)
    out = np.empty(rows.shape, dtype=np.float32)
    for row, z in zip(rows, out, strict=True):
        finite = np.isfinite(row)
        every = bool(finite.all())
        values = row if every else row[finite]
        if len(values) == 0:
            z.fill(0.0)
            continue
        mean = float(values.mean(dtype=np.float64))
        spread = float(values.std(dtype=np.float64))
        if spread > 0:
            np.subtract(row, mean, out=z, casting="unsafe")
            z /= np.float32(spread)
        else:
            z.fill(0.0)
        if not every:
            # The lowest z is the lowest value's, worked out as z was (the same float32
            # steps): no gather of the finite z-scores.
            lowest = np.zeros(1, dtype=np.float32)
            if fill == "lowest" and spread > 0:
                np.subtract(values.min(keepdims=True), mean, out=lowest, casting="unsafe")
                lowest /= np.float32(spread)
            np.copyto(z, lowest[0], where=~finite)
    return out


# Weight vectors the tuning compares one by one; a larger grid is searched coarse to fine.
MAX_GRID_POINTS = 300


def simplex_grid(components: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector with non-negative multiples of `step` summing to 1."""
    if components < 1:
        return []
    units = round(1 / step)
    grid = []
    for cuts in itertools.combinations(range(units + components - 1), components - 1):
        parts = np.diff([-1, *cuts, units + components - 1]) - 1
        grid.append(tuple(round(float(part) / units, 6) for part in parts))
    return grid


def held_out_ranks(
    blended: FloatMatrix, excluded: npt.NDArray[np.bool_], targets: IntArray
) -> FloatArray:
    """The 1-based rank of one held-out item per row among the row's candidates (every
    column not `excluded`), ties pessimistic; inf for a target of -1 (not rankable)."""
    rows = np.arange(len(targets))
    known = targets >= 0
    target_scores = np.full(len(targets), np.inf, dtype=np.float32)
    target_scores[known] = blended[rows[known], targets[known]]
    # Candidates scoring at least the target's, the target itself included once.
    at_least = ((blended >= target_scores[:, None]) & ~excluded).sum(axis=1)
    at_least += excluded[rows, np.maximum(targets, 0)]
    return np.where(known, at_least, np.inf)


def held_out_ndcg(
    blended: FloatMatrix, excluded: npt.NDArray[np.bool_], targets: IntArray, k: int = 10
) -> tuple[float, float]:
    """Mean NDCG@k and HR@k of one held-out item per row (see `held_out_ranks`)."""
    rank = held_out_ranks(blended, excluded, targets)
    if not len(rank):
        return 0.0, 0.0
    hit = rank <= k
    gains = np.where(hit, 1.0 / np.log2(np.minimum(rank, k) + 1.0), 0.0)
    return float(gains.mean()), float(hit.mean())


@dataclass(frozen=True, slots=True)
class WeightTrial:
    weights: tuple[float, ...]
    ndcg: float  # NDCG@10
    hr: float  # HR@10

    def to_json(self, names: Sequence[str]) -> dict[str, object]:
        return {
            "weights": dict(zip(names, self.weights, strict=True)),
            "ndcg@10": round(self.ndcg, 5),
            "hr@10": round(self.hr, 5),
        }


def search_weights(
    standardised: Sequence[FloatMatrix],
    excluded: npt.NDArray[np.bool_],
    targets: IntArray,
    step: float,
) -> list[WeightTrial]:
    """NDCG@10 and HR@10 of the weight vectors on the simplex grid, best NDCG@10 first
    (ties to the earlier one: more weight on the earlier components).

    Every vector of the grid while it has at most MAX_GRID_POINTS; past that (five groups
    at step 0.1: 1,001 vectors, each a pass over pairs x tracks x groups: most of an hour
    at 114k tracks), the grid at twice the step first, then every vector of the fine grid
    within one step of its best in each weight."""

    def trial(weights: tuple[float, ...]) -> WeightTrial:
        blended = np.zeros_like(standardised[0])
        for weight, z in zip(weights, standardised, strict=True):
            if weight:
                blended += np.float32(weight) * z
        return WeightTrial(weights, *held_out_ndcg(blended, excluded, targets))

    grid = simplex_grid(len(standardised), step)
    units = round(1 / step)
    if len(grid) <= MAX_GRID_POINTS or units % 2:
        trials = [trial(weights) for weights in grid]
    else:
        trials = [trial(weights) for weights in simplex_grid(len(standardised), 2 * step)]
        best = max(trials, key=lambda t: t.ndcg).weights  # the first of equals
        tried = {t.weights for t in trials}
        for weights in grid:
            near = max(abs(a - b) for a, b in zip(weights, best, strict=True)) <= step + 1e-9
            if near and weights not in tried:
                trials.append(trial(weights))
    order = sorted(range(len(trials)), key=lambda i: (-trials[i].ndcg, i))
    return [trials[i] for i in order]
