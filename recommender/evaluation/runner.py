"""Fit each model per seed, score the test users in batches, aggregate over seeds.

Within a seed every model sees the same split. Items are ranked over one universe for
all models (every item in train, test or the sampled candidates): a model's own
vocabulary is mapped onto it, and an item the model does not know scores -inf there, so
a test item the model never saw is a miss, never a dropped user (items a model knows
beyond the universe, e.g. catalog tracks no one played, are not ranked). Each test user's train
items are never candidates. With sampled negatives, a user's candidates are their test
items plus their sampled items instead of the whole universe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.base import Recommender
from recommender.data import Interactions, ItemCatalog
from recommender.evaluation import metrics
from recommender.evaluation.models import build_model
from recommender.vocab import Vocabulary

# Score cells held per batch (users x items); bounds memory to ~100 MB with the masks.
BATCH_CELLS = 2_000_000


@dataclass(frozen=True)
class EvaluationData:
    """One seed's train and test rows, and optionally sampled candidates per test user.

    `catalog` is the judge's (genre precision reads its genres); models are fitted with
    `model_catalog` when given, e.g. one whose genres come from the training rows only."""

    train: Interactions
    test: Interactions
    catalog: ItemCatalog | None = None
    negatives: Interactions | None = None
    model_catalog: ItemCatalog | None = None

    @property
    def catalog_for_models(self) -> ItemCatalog | None:
        return self.model_catalog if self.model_catalog is not None else self.catalog

    @cached_property
    def items(self) -> Vocabulary:
        """The ranking universe: every item of train, test and the sampled candidates."""
        parts = [self.train.items, self.test.items]
        if self.negatives is not None:
            parts.append(self.negatives.items)
        return Vocabulary(np.concatenate(parts).tolist())


MetricSummary = dict[str, float | list[float | None] | None]


@dataclass(frozen=True)
class SeedResult:
    metrics: dict[str, float]
    users: int
    fit_seconds: float
    evaluate_seconds: float


@dataclass
class EvaluationReport:
    """Per model and metric, the value of every seed; `results()` gives mean and std."""

    seeds: list[int] = field(default_factory=list)
    runs: dict[str, list[SeedResult]] = field(default_factory=dict)

    def results(self) -> dict[str, dict[str, MetricSummary]]:
        """{model: {metric: {"mean", "std", "per_seed"}}}; None where a value is undefined."""
        summary: dict[str, dict[str, MetricSummary]] = {}
        for model, runs in self.runs.items():
            summary[model] = {}
            for name in runs[0].metrics:
                values = np.array([run.metrics[name] for run in runs], dtype=np.float64)
                summary[model][name] = {
                    "mean": _number(float(np.mean(values))),
                    # Sample standard deviation over seeds; 0 for a single seed.
                    "std": _number(float(np.std(values, ddof=1))) if len(values) > 1 else 0.0,
                    "per_seed": [_number(float(value)) for value in values],
                }
        return summary

    def timing(self) -> dict[str, dict[str, float]]:
        return {
            model: {
                "fit_seconds": round(float(np.mean([r.fit_seconds for r in runs])), 3),
                "evaluate_seconds": round(float(np.mean([r.evaluate_seconds for r in runs])), 3),
            }
            for model, runs in self.runs.items()
        }

    def users_per_seed(self) -> list[int]:
        first = next(iter(self.runs.values()), [])
        return [run.users for run in first]


def _number(value: float) -> float | None:
    return value if np.isfinite(value) else None


def metric_names(k: int, *, genres: bool) -> list[str]:
    names = [f"hr@{k}", f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", f"mrr@{k}"]
    names += ["auc", f"coverage@{k}"]
    return [*names, f"genre_precision@{k}"] if genres else names


def _incidence(interactions: Interactions, users: Vocabulary, items: Vocabulary) -> sp.csr_matrix:
    """Users x items, True where the pair occurs (whatever its weight)."""
    rows = users.indices(interactions.users.tolist())
    columns = items.indices(interactions.items.tolist())
    keep = (rows >= 0) & (columns >= 0)
    matrix = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (rows[keep], columns[keep])),
        shape=(len(users), len(items)),
    )
    matrix.sum_duplicates()
    return matrix


def _genre_matrix(catalog: ItemCatalog | None, items: Vocabulary) -> sp.csr_matrix | None:
    """Items of the universe x genres, or None when there are no genres to compare."""
    if catalog is None:
        return None
    positions = catalog.vocab.indices(items.ids.tolist())
    rows: list[int] = []
    genre_ids: list[str] = []
    for row, position in enumerate(positions.tolist()):
        if position >= 0:
            for genre in catalog.genres[position]:
                rows.append(row)
                genre_ids.append(genre)
    if not rows:
        return None
    genres = Vocabulary(genre_ids)
    return sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows), genres.indices(genre_ids))),
        shape=(len(items), len(genres)),
    )


def check_no_leak(train: Interactions, test: Interactions) -> None:
    """A test pair that is also in train would be excluded from its own ranking."""
    users = Vocabulary(test.users.tolist())
    items = Vocabulary(test.items.tolist())
    overlap = _incidence(train, users, items).multiply(_incidence(test, users, items))
    if overlap.nnz:
        row, column = overlap.nonzero()
        raise ValueError(
            f"{overlap.nnz} test (user, item) pair(s) also appear in train, e.g. "
            f"({users.id_of(int(row[0]))}, {items.id_of(int(column[0]))}); "
            "remove held-out pairs from train"
        )


def missing_train_users(train: Interactions, test: Interactions) -> list[str]:
    known = set(np.unique(train.users).tolist())
    return [user for user in np.unique(test.users).tolist() if user not in known]


def evaluate_model(model: Recommender, data: EvaluationData, k: int) -> dict[str, float]:
    """Mean of every metric over the test users of `data` (see the module docstring)."""
    check_no_leak(data.train, data.test)
    items = data.items
    users = Vocabulary(data.test.users.tolist())
    train = _incidence(data.train, users, items)
    test = _incidence(data.test, users, items)
    sampled = _incidence(data.negatives, users, items) if data.negatives is not None else None
    item_genres = _genre_matrix(data.catalog, items)

    model_columns = items.indices(model.item_vocab.ids.tolist())
    known = model_columns >= 0
    recommended = np.zeros(len(items), dtype=bool)
    names = metric_names(k, genres=item_genres is not None)
    per_user: dict[str, list[npt.NDArray[np.float64]]] = {name: [] for name in names}
    batch = max(1, BATCH_CELLS // max(len(items), 1))
    for start in range(0, len(users), batch):
        rows = slice(start, start + batch)
        raw = np.asarray(model.score_users(users.ids[rows].tolist()), dtype=np.float64)
        if raw.shape != (len(users.ids[rows]), len(model.item_vocab)):
            raise ValueError(f"{type(model).__name__}.score_users returned shape {raw.shape}")
        scores = np.full((raw.shape[0], len(items)), -np.inf)
        scores[:, model_columns[known]] = raw[:, known]
        in_train = train[rows].toarray()
        relevant = test[rows].toarray()
        candidates = ~in_train
        if sampled is not None:
            candidates &= sampled[rows].toarray() | relevant

        ranks = metrics.rank_relevant(scores, relevant, candidates)
        batch_values = {
            f"hr@{k}": metrics.hit_rate(ranks, k),
            f"ndcg@{k}": metrics.ndcg(ranks, k),
            f"precision@{k}": metrics.precision(ranks, k),
            f"recall@{k}": metrics.recall(ranks, k),
            f"map@{k}": metrics.average_precision(ranks, k),
            f"mrr@{k}": metrics.reciprocal_rank(ranks, k),
            "auc": metrics.auc(ranks),
        }
        top = metrics.top_k_mask(scores, candidates, k)
        recommended |= top.any(axis=0)
        if item_genres is not None:
            queries = metrics.query_genres(train[rows], item_genres)
            batch_values[f"genre_precision@{k}"] = metrics.genre_precision(
                top, queries, item_genres
            )
        for name, value in batch_values.items():
            per_user[name].append(value)

    means = {name: _nanmean(parts) for name, parts in per_user.items()}
    means[f"coverage@{k}"] = metrics.coverage(recommended)
    return {name: means[name] for name in names}


def _nanmean(parts: Sequence[npt.NDArray[np.float64]]) -> float:
    values = np.concatenate(parts) if parts else np.empty(0)
    defined = values[np.isfinite(values)]
    return float(defined.mean()) if defined.size else float("nan")


def run_evaluation(
    model_names: Sequence[str],
    seeds: Sequence[int],
    data_for_seed: Callable[[int], EvaluationData],
    k: int,
    *,
    on_result: Callable[[str, int, SeedResult], None] | None = None,
) -> EvaluationReport:
    """For each seed: one split, every model fitted on it and evaluated on it."""
    report = EvaluationReport(seeds=list(seeds), runs={name: [] for name in model_names})
    for seed in seeds:
        data = data_for_seed(seed)
        for name in model_names:
            model = build_model(name, seed)
            started = time.perf_counter()
            model.fit(data.train, data.catalog_for_models)
            fitted = time.perf_counter()
            values = evaluate_model(model, data, k)
            result = SeedResult(
                metrics=values,
                users=len(np.unique(data.test.users)),
                fit_seconds=fitted - started,
                evaluate_seconds=time.perf_counter() - fitted,
            )
            report.runs[name].append(result)
            if on_result is not None:
                on_result(name, seed, result)
    return report
