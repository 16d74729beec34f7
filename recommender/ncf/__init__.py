"""NCF: Neural Collaborative Filtering's NeuMF (He et al. 2017), trained on implicit feedback.

Split as LensKit splits it: the networks (`_module`), negative sampling (`_sampling`), the
training loop (`_train`) and here the scorer, `NCF`.

Training. Positives are the (user, item) pairs whose summed weight is positive. Each
epoch pairs every positive with `negatives` items drawn uniformly from those the user has
no positive for, plus every pair the user disliked or skipped (negative weight) as a sure
negative; the loss is binary cross-entropy on the logits, the optimiser Adam.
`confidence` and `confidence_alpha` weight each observed pair's loss by ALS's confidence
mapping (`recommender.als.confidences`: log1p or BM25 of play counts for datasets, of
feedback weights for the bot; off by default, it did not help on validation).
`branches` picks NeuMF (default) or the paper's GMF or MLP alone. Early
stopping watches NDCG@10 on a validation split carved from the training rows with the
model's seed (one positive pair held out per user with at least two, like
`ItemKNN`'s `validation_split`), ranked over every item with the user's train items
excluded and pessimistic ties, as `earworm eval` counts (at most `MAX_VALIDATION_USERS`
held-out users, a seeded sample, are scored). Training stops after `patience`
validated epochs without a gain of more than `min_delta` (validation starts at epoch
`validate_from`) and keeps the best epoch's weights: those weights, trained
without the held-out pairs, are the model (no refit on all rows). The held-out pairs are
one per user (about 2 % of Last.fm's pairs), a refit would double the training time, and
the epoch count found on the split would not transfer exactly to data 2 % larger; the
weights that were validated are the ones served. With fewer than `MIN_VALIDATION_USERS`
users to hold out from, there is no split: it trains on all rows for `epochs` epochs and
`training["stopping"]` says so. With `pretrain=True` the GMF and MLP branches are first
trained alone (each early-stopped the same way), and NeuMF starts from them with the
output layer weighted `alpha` and 1 - `alpha` (the paper's section 3.4.1).

Threads. Fitting or loading sets torch's intra-op thread count to `threads` for the whole
process (default 1: see `_prepare`).

Scoring. A user with positive feedback gets the network's logits for every item (one
matrix product for GMF, the MLP run over all items with the item half of its first layer
cached). Unknown users and users with no positive feedback get popularity (users who
liked the item); items no one liked score -inf for them, so with no positive feedback
anywhere nothing is recommended at all. A user's own pairs, disliked ones too, are never
recommended again.

Artifacts hold `manifest.json`, `arrays.npz` (vocabularies, labels, popularity, each
user's pairs) and `weights.pt`, the network's state dict: a plain dict of tensors that
`torch.load(..., weights_only=True)` reads, never a pickled object.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from recommender.als import SCALINGS
from recommender.artifacts import Arrays, ArtifactError, read_artifact, write_artifact
from recommender.base import Recommendation, Recommender, check_k, top_k
from recommender.data import Interactions, ItemCatalog, item_labels, row_items
from recommender.ncf._module import NeuMF
from recommender.ncf._sampling import Feedback, Scaling
from recommender.ncf._train import (
    BRANCHES,
    VALIDATION_K,
    Branches,
    Settings,
    Trainer,
    Validation,
)
from recommender.popularity import popular_reason
from recommender.vocab import Vocabulary

__all__ = ["NCF"]

WEIGHTS = "weights.pt"
# Bumped when the saved parameters or tensors change meaning.
NCF_FORMAT = 1
# Fewer held-out users than this make validation NDCG too noisy to stop on.
MIN_VALIDATION_USERS = 10
# At most this many held-out users are scored each epoch (a seeded sample; each is still
# ranked against every item): on 1M interactions all of them would cost more than training.
MAX_VALIDATION_USERS = 1_000
# Users scored at once by `score_users`.
_SCORE_BATCH = 512
_MODULE_PREFIX = "module."
FloatArray = npt.NDArray[np.float64]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _positives(matrix: sp.csr_matrix) -> sp.csr_matrix:
    positive = (matrix > 0).astype(np.float32).tocsr()
    positive.eliminate_zeros()
    return positive


def _seen(matrix: sp.csr_matrix) -> sp.csr_matrix:
    seen = matrix.copy()
    seen.data = np.ones_like(seen.data, dtype=np.float32)
    return sp.csr_matrix(seen, dtype=np.float32)


class NCF(Recommender):
    """NeuMF over implicit feedback, early-stopped on validation NDCG@10 (module docstring).

    After `fit`, `training` holds how it stopped, the best epoch and the per-epoch history
    (stage, training loss, validation HR@10 and NDCG@10, seconds)."""

    kind = "ncf"

    def __init__(
        self,
        *,
        seed: int = 0,
        factors: int = 64,
        mlp_layers: Sequence[int] = (128, 64, 32),
        epochs: int = 30,
        batch_size: int = 16384,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        negatives: int = 16,
        patience: int = 3,
        min_delta: float = 1e-3,
        validate_from: int = 3,
        pretrain: bool = False,
        alpha: float = 0.5,
        branches: Branches = "neumf",
        confidence: Scaling = "none",
        confidence_alpha: float = 0.0,
        threads: int = 1,
        device: str = "auto",
        progress: bool = True,
    ) -> None:
        layers = tuple(int(width) for width in mlp_layers)
        if factors < 1 or not layers or min(layers) < 1 or layers[0] < 2:
            raise ValueError("factors and every MLP width must be positive (the first >= 2)")
        if epochs < 1 or batch_size < 1 or negatives < 0 or patience < 1 or threads < 1:
            raise ValueError("epochs, batch_size, patience and threads must be at least 1")
        if lr <= 0 or weight_decay < 0 or not 0 <= alpha <= 1:
            raise ValueError("lr must be positive, weight_decay >= 0 and alpha in [0, 1]")
        if min_delta < 0 or validate_from < 1:
            raise ValueError("min_delta must be >= 0 and validate_from at least 1")
        if branches not in BRANCHES or (pretrain and branches != "neumf"):
            raise ValueError(f"branches must be one of {BRANCHES}; pretrain needs neumf")
        if confidence not in SCALINGS or confidence_alpha < 0:
            raise ValueError(f"confidence must be one of {SCALINGS}, confidence_alpha >= 0")
        self.seed = int(seed)
        self.settings = Settings(
            factors=int(factors),
            mlp_layers=layers,
            epochs=int(epochs),
            batch_size=int(batch_size),
            lr=float(lr),
            weight_decay=float(weight_decay),
            negatives=int(negatives),
            patience=int(patience),
            min_delta=float(min_delta),
            validate_from=int(validate_from),
            pretrain=bool(pretrain),
            alpha=float(alpha),
            branches=branches,
            confidence=confidence,
            confidence_alpha=float(confidence_alpha),
        )
        self.threads = int(threads)
        self.device = device
        self.progress = progress
        self.training: dict[str, Any] = {}
        self._users = Vocabulary([])
        self._items = Vocabulary([])
        self._labels = np.array([], dtype=np.str_)
        self._positives = sp.csr_matrix((0, 0), dtype=np.float32)
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._popularity = np.zeros(0)
        self._module = self._network(0, 0)
        self._prepare()

    def _network(self, n_users: int, n_items: int) -> NeuMF:
        s = self.settings
        return NeuMF(
            n_users,
            n_items,
            s.factors,
            s.mlp_layers,
            gmf=s.branches != "mlp",
            mlp=s.branches != "gmf",
        )

    # --- training ---------------------------------------------------------------------

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        self._users = interactions.user_vocab
        self._items = interactions.item_vocab
        matrix = interactions.matrix(self._users, self._items)
        self._positives = _positives(matrix)
        self._seen = _seen(matrix)
        self._popularity = np.diff(self._positives.tocsc().indptr).astype(np.float64)
        self._labels = item_labels(self._items, catalog)

        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        self._module = self._train(interactions, matrix)
        self._prepare()
        return self

    def _train(self, interactions: Interactions, matrix: sp.csr_matrix) -> NeuMF:
        device = _device(self.device)
        trainer = Trainer(
            self.settings,
            n_users=len(self._users),
            n_items=len(self._items),
            device=device,
            rng=np.random.default_rng(self.seed),
            progress=self.progress and sys.stderr.isatty(),
        )
        self.training = {"device": device.type, "seed": self.seed, "metric": "ndcg@10"}
        if self._positives.nnz == 0:
            self.training.update(stopping="not trained: no positive feedback", history=[])
            return self._network(len(self._users), len(self._items))
        validation, train_matrix = self._validation(interactions)
        if validation is None:
            self.training["stopping"] = (
                f"fixed {self.settings.epochs} epochs on all rows: fewer than "
                f"{MIN_VALIDATION_USERS} users to validate on"
            )
            self.training["validation_users"] = 0
            module = trainer.fit(self._feedback(matrix), None)
        else:
            self.training["stopping"] = (
                f"early stopping on validation NDCG@{VALIDATION_K} (patience "
                f"{self.settings.patience}, min_delta {self.settings.min_delta}, validated "
                f"from epoch {self.settings.validate_from}), best epoch's weights kept, no refit"
            )
            self.training["validation_users"] = len(validation.users)
            module = trainer.fit(self._feedback(train_matrix), validation)
        self.training["history"] = trainer.history
        best = [r for r in trainer.history if r.get("best") and r["stage"] == "neumf"]
        self.training["best_epoch"] = best[0]["epoch"] if best else None
        self.training["epochs_run"] = len(trainer.history)
        return module.cpu().eval()

    def _feedback(self, matrix: sp.csr_matrix) -> Feedback:
        return Feedback.from_matrix(
            matrix, self.settings.confidence, self.settings.confidence_alpha
        )

    def _validation(self, interactions: Interactions) -> tuple[Validation | None, sp.csr_matrix]:
        """The validation split in the model's indices, or None when too few users qualify."""
        # Imported here: the harness imports model modules (its registry).
        from recommender.evaluation.splits import leave_one_out

        split = leave_one_out(interactions, seed=self.seed, min_interactions=2)
        if len(np.unique(split.test.users)) < MIN_VALIDATION_USERS:
            return None, sp.csr_matrix((0, 0))
        train_matrix = split.train.matrix(self._users, self._items)
        known = np.zeros(len(self._items), dtype=bool)
        known[self._items.indices(np.unique(split.train.items).tolist())] = True
        users = self._users.indices(split.test.users.tolist())
        items = self._items.indices(split.test.items.tolist())
        items = np.where(known[items], items, -1)
        if len(users) > MAX_VALIDATION_USERS:
            chosen = np.sort(
                np.random.default_rng(self.seed).choice(len(users), MAX_VALIDATION_USERS, False)
            )
            users, items = users[chosen], items[chosen]
        validation = Validation(
            users=users,
            items=items,
            seen=_seen(train_matrix),
            known_items=known,
        )
        return validation, train_matrix

    def _prepare(self) -> None:
        """Caches for serving: the item side of the network and unit item vectors.

        Also sets torch's intra-op threads to `threads`, process-wide: these matrices are
        small, and more threads than free cores made scoring and training 40-100 times
        slower on a busy 2-core machine (OpenMP threads waiting on each other)."""
        torch.set_num_threads(self.threads)
        self._module.eval()
        self._item_side = self._module.item_side()
        parts = [
            getattr(self._module, name).weight
            for name in ("gmf_item", "mlp_item")
            if hasattr(self._module, name)
        ]
        with torch.no_grad():
            normalised = [torch.nn.functional.normalize(p, dim=1) for p in parts]
            self._item_vectors = (torch.cat(normalised, dim=1) / np.sqrt(len(parts))).numpy()
        has_likes = self._popularity > 0
        self._fallback = np.where(has_likes, self._popularity, -np.inf)

    # --- scoring ----------------------------------------------------------------------

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    def _has_taste(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        known = rows >= 0
        known[known] = np.diff(self._positives.indptr)[rows[known]] > 0
        return known

    def score_users(self, users: Sequence[str]) -> FloatArray:
        rows = self._users.indices(users)
        has_taste = self._has_taste(rows)
        scores = np.tile(self._fallback, (len(rows), 1))
        taste_rows = np.flatnonzero(has_taste)
        with torch.inference_mode():
            for start in range(0, len(taste_rows), _SCORE_BATCH):
                part = taste_rows[start : start + _SCORE_BATCH]
                users_tensor = torch.from_numpy(rows[part])
                scores[part] = self._module.score_all(users_tensor, self._item_side).numpy()
        return scores

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def reason(self, user: str, item_index: int) -> str:
        row = self._users.index(user)
        liked = row_items(self._positives, row)
        if len(liked):
            similarity = self._item_vectors[liked] @ self._item_vectors[item_index]
            best = int(np.argmax(similarity))
            if similarity[best] > 0 and liked[best] != item_index:
                return f"because you liked {self._labels[liked[best]]}"
            return "people with taste like yours like this"
        return popular_reason(int(self._popularity[item_index]))

    def similar_items(self, item: str, k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        index = self._items.index(item)
        if index < 0:
            return []
        row = (self._item_vectors @ self._item_vectors[index]).astype(np.float64)
        row[index] = -np.inf
        reason = f"people who like {self._labels[index]} also like this"
        return [
            Recommendation(self._items.id_of(int(j)), float(row[j]), reason) for j in top_k(row, k)
        ]

    # --- persistence ------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        s = self.settings
        return {
            "ncf_format": NCF_FORMAT,
            "seed": self.seed,
            "factors": s.factors,
            "mlp_layers": list(s.mlp_layers),
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "lr": s.lr,
            "weight_decay": s.weight_decay,
            "negatives": s.negatives,
            "patience": s.patience,
            "min_delta": s.min_delta,
            "validate_from": s.validate_from,
            "pretrain": s.pretrain,
            "alpha": s.alpha,
            "branches": s.branches,
            "confidence": s.confidence,
            "confidence_alpha": s.confidence_alpha,
            "threads": self.threads,
            "device": self.device,
            "training": self.training,
        }

    def _arrays(self) -> Arrays:
        return {
            "users": self._users.ids,
            "items": self._items.ids,
            "labels": self._labels,
            "popularity": self._popularity,
            "positives_indices": self._positives.indices,
            "positives_indptr": self._positives.indptr,
            "seen_indices": self._seen.indices,
            "seen_indptr": self._seen.indptr,
        }

    def state(self) -> tuple[dict[str, Any], Arrays]:
        weights = {
            _MODULE_PREFIX + name: tensor.detach().cpu().numpy()
            for name, tensor in self._module.state_dict().items()
        }
        return self._params(), {**self._arrays(), **weights}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        weights = {
            name[len(_MODULE_PREFIX) :]: torch.from_numpy(np.array(value))
            for name, value in arrays.items()
            if name.startswith(_MODULE_PREFIX)
        }
        return cls._rebuild(params, arrays, weights)

    def save(self, directory: Path) -> Path:
        state_dict = {name: t.detach().cpu() for name, t in self._module.state_dict().items()}
        return write_artifact(
            directory,
            self.kind,
            self._params(),
            self._arrays(),
            files={WEIGHTS: lambda path: torch.save(state_dict, path)},
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        params, arrays = read_artifact(directory, cls.kind, files=(WEIGHTS,))
        try:
            weights = torch.load(Path(directory) / WEIGHTS, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise ArtifactError(f"{directory}: {WEIGHTS} is unreadable ({exc})") from None
        if not isinstance(weights, dict) or not all(
            isinstance(v, torch.Tensor) for v in weights.values()
        ):
            raise ArtifactError(f"{directory}: {WEIGHTS} is not a dict of tensors")
        return cls._rebuild(params, arrays, weights, source=str(directory))

    @classmethod
    def _rebuild(
        cls,
        params: dict[str, Any],
        arrays: Arrays,
        weights: dict[str, torch.Tensor],
        source: str = "state",
    ) -> Self:
        if params.get("ncf_format") != NCF_FORMAT:
            raise ArtifactError(
                f"{source}: NCF format {params.get('ncf_format')!r} is not supported "
                f"(this version reads {NCF_FORMAT}); retrain the model"
            )
        # Artifacts written before confidence weighting trained without it.
        # Artifacts written before min_delta and validate_from stopped on any gain and
        # validated every epoch.
        params = {
            "branches": "neumf",
            "confidence": "none",
            "confidence_alpha": 0.0,
            "min_delta": 0.0,
            "validate_from": 1,
            **params,
        }
        settings = {
            name: params[name]
            for name in (
                "seed", "factors", "mlp_layers", "epochs", "batch_size", "lr", "weight_decay",
                "negatives", "patience", "min_delta", "validate_from", "pretrain", "alpha",
                "branches", "confidence", "confidence_alpha", "threads", "device",
            )
        }  # fmt: skip
        model = cls(**settings, progress=False)
        model.training = params.get("training", {})
        model._users = Vocabulary(arrays["users"])
        model._items = Vocabulary(arrays["items"])
        model._labels = arrays["labels"]
        model._popularity = arrays["popularity"]
        shape = (len(model._users), len(model._items))
        for name in ("positives", "seen"):
            indices = arrays[f"{name}_indices"]
            matrix = sp.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices, arrays[f"{name}_indptr"]),
                shape=shape,
            )
            setattr(model, f"_{name}", matrix)
        module = model._network(*shape)
        try:
            module.load_state_dict(weights)
        except RuntimeError as exc:
            raise ArtifactError(f"{source}: weights do not fit the model ({exc})") from None
        model._module = module
        model._prepare()
        return model
