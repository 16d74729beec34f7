"""What the matrix-factorisation models (ALS, BPR) share.

A factor model scores item i for user u as the dot product of their factor vectors. Users
with no positive feedback, and users it never saw, get the popularity fallback: items by
how many users liked them, an item no one liked never offered. Everything a user gave any
feedback on, even a dislike or a skip, is seen and never recommended to them again.

Hyperparameters left unset are chosen on a validation split carved from the training
interactions only (`validation_split`, the harness's seeded leave-one-out), each candidate
fitted on the validation train rows and scored by NDCG@10 over a full ranking without the
user's train items, pessimistic ties, an item the validation model never saw a miss:
exactly as `earworm eval` counts (`validation_metrics` ranks the model's own
`score_users` rows; a unit test checks it against the harness).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController, threadpool_limits

from recommender.artifacts import Arrays
from recommender.base import Recommendation, Recommender, check_k, top_k
from recommender.data import Interactions, ItemCatalog, item_labels, row_items
from recommender.popularity import popular_reason
from recommender.vocab import Vocabulary

FloatArray = npt.NDArray[np.float64]
Config = dict[str, Any]
# What the search maximises (ties to the configuration tried first) and at which k.
TUNING_METRIC = "ndcg@10"
TUNING_K = 10
# Below this many validation users the metric is noise: the documented defaults are used.
MIN_VALIDATION_USERS = 10
# Validation users scored at once (dense rows: users x items float64).
_VALIDATION_BATCH = 256


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """For fitting: implicit parallelises over users itself; a BLAS thread pool on top only
    slows it down (implicit warns about it) and could reorder float sums between runs."""
    with threadpool_limits(1, "blas"):
        yield


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """For reading: one user's row is a matrix-vector product that OpenBLAS splits over
    its threads, and waking them costs more than the product (30k items, 64 factors:
    16 ms p50 with 2 threads on a busy 2-core machine, 0.4 ms with one). The bot serves
    requests from several threads already. The limit is process-wide: overlapping readers
    can restore each other's setting out of order and leave BLAS on one thread, which
    changes speed only, never a result."""
    with _blas().limit(limits=1, user_api="blas"):
        yield


def validation_split(interactions: Interactions, seed: int) -> tuple[Interactions, Interactions]:
    """(train, held out): one positive pair held out per user with at least two (seeded);
    empty held-out rows when there is nothing to hold out."""
    # Imported here: the evaluation package is heavy and registers this module's models.
    from recommender.evaluation.splits import leave_one_out

    if len(interactions) == 0:
        return interactions, interactions
    split = leave_one_out(interactions, seed=seed, min_interactions=2)
    return split.train, split.test


def validation_metrics(model: Recommender, held: Interactions) -> dict[str, float]:
    """HR@10 and NDCG@10 of a model fitted on the validation train rows, each held-out item
    ranked in the model's `score_users` row among the items the user has not seen,
    pessimistic ties; an item the model cannot score (unknown, -inf) is a miss."""
    users = held.users.tolist()
    held_items = model.item_vocab.indices(held.items.tolist())
    ranks = np.empty(len(users))
    for start in range(0, len(users), _VALIDATION_BATCH):
        part = slice(start, start + _VALIDATION_BATCH)
        batch = users[part]
        scores = np.asarray(model.score_users(batch), dtype=np.float64)
        if not scores.flags.writeable:
            scores = scores.copy()
        for row, user in enumerate(batch):
            scores[row, model.seen_items(user)] = -np.inf
        rows = np.arange(len(batch))
        items = held_items[part]
        known = items >= 0
        target = np.where(known, scores[rows, np.maximum(items, 0)], -np.inf)
        scores[rows[known], items[known]] = -np.inf  # not its own competitor
        at_least = (scores >= target[:, None]).sum(axis=1)
        ranks[part] = np.where(np.isfinite(target), 1.0 + at_least, np.inf)
    hit = ranks <= TUNING_K
    gain = np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 1.0) + 1.0), 0.0)
    return {f"hr@{TUNING_K}": float(hit.mean()), TUNING_METRIC: float(gain.mean())}


@dataclass(frozen=True)
class Stage:
    """One step of a search: the configurations to try given the best one so far."""

    name: str
    candidates: Callable[[Config], list[Config]]


def search(
    evaluate: Callable[[Config], dict[str, float]],
    start: Config,
    stages: Sequence[Stage],
    fixed: Config,
) -> tuple[Config, list[dict[str, Any]]]:
    """Greedy coarse-to-fine search: each stage tries its candidates (values in `fixed`
    always win) and keeps the best so far by TUNING_METRIC, ties to the one tried first.
    Returns the best configuration and every configuration tried with its metrics."""
    table: list[dict[str, Any]] = []
    tried: dict[str, dict[str, float]] = {}
    best: Config | None = None
    best_score = -np.inf
    for stage in stages:
        for candidate in stage.candidates(dict(best or start)):
            config = {**start, **(best or {}), **candidate, **fixed}
            key = repr(sorted(config.items()))
            if key in tried:
                continue
            tried[key] = evaluate(config)
            table.append({"stage": stage.name, **config, **tried[key]})
            if tried[key][TUNING_METRIC] > best_score:
                best, best_score = config, tried[key][TUNING_METRIC]
    return dict(best or {**start, **fixed}), table


def tuning_record(
    seed: int,
    validation_users: int,
    chosen: Config,
    table: list[dict[str, Any]],
    note: str,
) -> dict[str, Any]:
    return {
        "chosen": chosen,
        "metric": TUNING_METRIC,
        "seed": seed,
        "validation_users": validation_users,
        "table": table,
        "note": note,
    }


def popularity(matrix: sp.csr_matrix) -> FloatArray:
    """Users with positive feedback, per item."""
    positive = (matrix > 0).astype(np.float64)
    return np.asarray(positive.sum(axis=0)).ravel()


def seen_matrix(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Users x items, 1 wherever the user gave any feedback (also dislikes, skips and pairs
    whose weights sum to zero): never recommended to them again."""
    seen = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    seen.data = np.ones_like(seen.data)
    return seen


def unit_rows(vectors: npt.NDArray[np.floating]) -> FloatArray:
    """Rows scaled to length 1 (zero rows stay zero): cosine is then a dot product."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def positive_int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(name: str, value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class FactorModel(Recommender):
    """Users and items as factor vectors; subclasses choose hyperparameters and train.

    Subclasses set `defaults` (every hyperparameter, each also a constructor argument of
    the same name and attribute, None when it is to be searched) and `search_note`, and
    implement `_stages` (what the search tries) and `_train` (factors from the summed users
    x items weights); they may override `_latent` (what similarity compares) and
    `_contributions` (for reasons)."""

    kind: ClassVar[str]
    defaults: ClassVar[Config]
    search_note: ClassVar[str]

    def __init__(self, *, seed: int, threads: int) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.seed = int(seed)
        self.threads = threads
        self.chosen: Config | None = None
        self.tuning: dict[str, Any] | None = None
        self._users = Vocabulary([])
        self._items = Vocabulary([])
        self._labels = np.array([], dtype=np.str_)
        self._user_factors = np.zeros((0, 0), dtype=np.float32)
        self._item_factors = np.zeros((0, 0), dtype=np.float32)
        # Users x items: what the factors were trained on; > 0 marks a liked item.
        self._profile = sp.csr_matrix((0, 0), dtype=np.float32)
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._popularity = np.zeros(0)
        # Items a member only listened to (no reaction): reasons say "played" for them.
        self._played: frozenset[int] = frozenset()
        self._derive()

    # --- subclass hooks ------------------------------------------------------------------

    def _stages(self) -> Sequence[Stage]:
        """The stages of the validation search (see `search`)."""
        raise NotImplementedError

    def _train(self, matrix: sp.csr_matrix, config: Config) -> None:
        """Set `_user_factors`, `_item_factors` and `_profile` from summed weights."""
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        """The constructor's hyperparameter arguments, JSON-able."""
        return {name: getattr(self, name) for name in self.defaults}

    def _given(self) -> Config:
        return {name: value for name, value in self._params().items() if value is not None}

    def _choose(self, interactions: Interactions) -> tuple[Config, dict[str, Any] | None]:
        """The hyperparameters to train with: those given, the rest chosen on a validation
        split of `interactions` (the defaults when it has too few users); and the tuning
        record (None when everything was given)."""
        given = self._given()
        if len(given) == len(self.defaults):
            return given, None
        train, held = validation_split(interactions, self.seed)
        users = len(held)  # one held-out pair per validation user
        if users < MIN_VALIDATION_USERS:
            chosen = {**self.defaults, **given}
            note = (
                f"{users} validation users, fewer than {MIN_VALIDATION_USERS}: "
                "no search, documented defaults"
            )
            return chosen, tuning_record(self.seed, users, chosen, [], note)

        def evaluate(config: Config) -> dict[str, float]:
            return validation_metrics(self.configured(config).fit(train), held)

        chosen, table = search(evaluate, self.defaults, self._stages(), given)
        return chosen, tuning_record(self.seed, users, chosen, table, self.search_note)

    def _contributions(
        self, row: int, liked: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> FloatArray:
        """liked x items: how much each liked item adds to the user's score of each item
        (for reasons). By default the dot product of their factor vectors."""
        return self._latent_vectors[liked] @ self._latent_vectors[items].T

    def _latent(self, item_factors: npt.NDArray[np.floating]) -> FloatArray:
        """The part of the item vectors that says what an item is like (for similarity)."""
        return np.asarray(item_factors, dtype=np.float64)

    # --- fitting -------------------------------------------------------------------------

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        self._users = interactions.user_vocab
        self._items = interactions.item_vocab
        self.chosen, self.tuning = self._choose(interactions)
        summed = interactions.matrix(self._users, self._items)
        self._seen = seen_matrix(summed)
        matrix = summed.copy()
        matrix.eliminate_zeros()  # a like undone by a dislike: seen, but no signal
        self._popularity = popularity(matrix)
        self._labels = item_labels(self._items, catalog)
        self._train(matrix, self.chosen)
        self._derive()
        return self

    def configured(self, config: Config) -> Self:
        """A new, unfitted model of this kind with every hyperparameter given (no search)."""
        return type(self)(seed=self.seed, threads=self.threads, **config)

    def _derive(self) -> None:
        """What reading needs and is cheap to recompute: never saved."""
        self._derive_users()
        self._fallback = np.where(self._popularity > 0, self._popularity, -np.inf)
        self._latent_vectors = self._latent(self._item_factors)
        self._similarity_vectors = unit_rows(self._latent_vectors)
        self._has_direction = self._similarity_vectors.any(axis=1)
        self._item_vectors = np.ascontiguousarray(self._item_factors, dtype=np.float32)

    def _derive_users(self) -> None:
        """The user side of `_derive`: who has a taste, and their vectors."""
        users = self._profile.shape[0]
        rows = np.repeat(np.arange(users), np.diff(self._profile.indptr))
        self._has_taste = np.bincount(rows[self._profile.data > 0], minlength=users) > 0
        # Scores in the factors' own float32: a request reads every item's vector, and
        # float64 would double that traffic for digits no ranking needs.
        self._user_vectors = np.asarray(self._user_factors, dtype=np.float32)

    def _user_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The factor vectors of these users (rows of users with a taste)."""
        return self._user_vectors[rows]

    # --- reading -------------------------------------------------------------------------

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = self._users.indices(users)
        taste = rows >= 0
        taste[taste] = self._has_taste[rows[taste]]
        with one_blas_thread():
            if taste.all():  # the common case: one product, no copies
                return self._user_rows(rows) @ self._item_vectors.T
            scores = np.empty((len(rows), len(self._items)), dtype=np.float32)
            scores[~taste] = self._fallback
            if taste.any():
                scores[taste] = self._user_rows(rows[taste]) @ self._item_vectors.T
        return scores

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def recommend(
        self, user: str, k: int = 10, *, exclude: Collection[str] = ()
    ) -> list[Recommendation]:
        """As `Recommender.recommend`, with the reasons of the top k worked out together."""
        k = check_k(k)
        scores = self.score_users([user])[0]
        scores[self.seen_items(user)] = -np.inf
        excluded = self._items.indices(exclude)
        scores[excluded[excluded >= 0]] = -np.inf
        chosen = top_k(scores, k)
        return [
            Recommendation(self._items.id_of(int(item)), float(scores[item]), reason)
            for item, reason in zip(chosen, self.reasons(user, chosen), strict=True)
        ]

    def reason(self, user: str, item_index: int) -> str:
        return self.reasons(user, np.asarray([item_index], dtype=np.int64))[0]

    def reasons(self, user: str, items: npt.NDArray[np.int64]) -> list[str]:
        """For each item: "because you liked X", X the liked item that adds most to its
        score, or why it is popular when no liked item adds anything."""
        items = np.asarray(items, dtype=np.int64)
        named: list[str | None] = [None] * len(items)
        row = self._users.index(user)
        if row >= 0 and self._has_taste[row] and len(items):
            start, end = self._profile.indptr[row], self._profile.indptr[row + 1]
            liked = self._profile.indices[start:end][self._profile.data[start:end] > 0]
            with one_blas_thread():
                contribution = self._contributions(row, liked.astype(np.int64), items)
            strongest = contribution.argmax(axis=0)
            for column, source in enumerate(strongest.tolist()):
                if contribution[source, column] > 0:
                    verb = "played" if int(liked[source]) in self._played else "liked"
                    named[column] = f"because you {verb} {self._labels[liked[source]]}"
        return [
            text or self._popular_reason(int(item)) for text, item in zip(named, items, strict=True)
        ]

    def _popular_reason(self, item: int) -> str:
        return popular_reason(int(self._popularity[item]))

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        """Cosine over item factors; items without a factor direction are not offered."""
        k = check_k(k)
        index = self._items.index(item)
        if index < 0 or not self._has_direction[index]:
            return []
        with one_blas_thread():
            row = self._similarity_vectors @ self._similarity_vectors[index]
        row[~self._has_direction] = -np.inf
        row[index] = -np.inf
        reason = f"people who like {self._labels[index]} also like this"
        return [
            Recommendation(self._items.id_of(int(j)), float(row[j]), reason) for j in top_k(row, k)
        ]

    # --- persistence ---------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        params = {
            **self._params(),
            "seed": self.seed,
            "threads": self.threads,
            "chosen": self.chosen,
            "tuning": self.tuning,
        }
        return params, {
            "users": self._users.ids,
            "items": self._items.ids,
            "labels": self._labels,
            "user_factors": self._user_factors,
            "item_factors": self._item_factors,
            "popularity": self._popularity,
            "profile_data": self._profile.data,
            "profile_indices": self._profile.indices,
            "profile_indptr": self._profile.indptr,
            "seen_indices": self._seen.indices,
            "seen_indptr": self._seen.indptr,
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        given = {
            name: value
            for name, value in params.items()
            if name not in {"seed", "threads", "chosen", "tuning"}
        }
        model = cls(seed=int(params["seed"]), threads=int(params["threads"]), **given)
        model.chosen = params.get("chosen")
        model.tuning = params.get("tuning")
        model._users = Vocabulary(arrays["users"])
        model._items = Vocabulary(arrays["items"])
        model._labels = arrays["labels"]
        model._user_factors = arrays["user_factors"]
        model._item_factors = arrays["item_factors"]
        model._popularity = arrays["popularity"]
        shape = (len(model._users), len(model._items))
        model._profile = sp.csr_matrix(
            (arrays["profile_data"], arrays["profile_indices"], arrays["profile_indptr"]),
            shape=shape,
        )
        seen_indices = arrays["seen_indices"]
        model._seen = sp.csr_matrix(
            (np.ones(len(seen_indices), dtype=np.float32), seen_indices, arrays["seen_indptr"]),
            shape=shape,
        )
        model._derive()
        return model
