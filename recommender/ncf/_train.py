"""The training loop: BCE with logits, Adam, negatives re-drawn each epoch, early stopping
on validation NDCG@10 over a full ranking (the best epoch's weights are kept).

One fused Adam steps every parameter, embedding tables included, with dense gradients:
with batches of thousands of pairs nearly every row is looked up each step anyway, and
SparseAdam's coalescing cost 1.4-1.7 times as much per pair (docs/benchmarks.md).
`weight_decay` is Adam's for the layers and, for the embeddings, an L2 penalty on the
rows each batch looks up (weight_decay x the mean squared norm of a pair's embeddings),
so rows are regularised as often as they are used.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from torch.nn.functional import binary_cross_entropy_with_logits
from tqdm import tqdm

from recommender.ncf._module import NeuMF, fuse_pretrained
from recommender.ncf._sampling import Epoch, Feedback, Scaling, epoch_samples

IntArray = npt.NDArray[np.int64]
# Which networks: the paper's NeuMF (both, fused), or GMF or MLP alone.
Branches = Literal["neumf", "gmf", "mlp"]
BRANCHES: tuple[Branches, ...] = ("neumf", "gmf", "mlp")
FloatArray = npt.NDArray[np.float64]
VALIDATION_K = 10
# Validation users scored at once (their dense rows are held in memory).
_VALIDATION_BATCH = 256
# NeuMF after pre-training starts near a good point: a smaller step keeps it there.
_FINE_TUNE_LR_SCALE = 0.1


@dataclass(frozen=True)
class Settings:
    factors: int
    mlp_layers: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    negatives: int
    patience: int
    min_delta: float
    validate_from: int
    pretrain: bool
    alpha: float
    branches: Branches
    confidence: Scaling
    confidence_alpha: float


@dataclass(frozen=True)
class Validation:
    """Held-out (user, item) pairs in the model's indices and what the validation model was
    trained on: `seen` marks each user's train pairs (never candidates), `known_items` the
    items that occur in those train rows (others would be unknown to it: scored -inf)."""

    users: IntArray
    items: IntArray  # -1 when the item occurs in no validation train row: a miss
    seen: sp.csr_matrix
    known_items: npt.NDArray[np.bool_]


def full_ranking_metrics(
    score_rows: Callable[[IntArray], FloatArray], validation: Validation, k: int = VALIDATION_K
) -> tuple[float, float]:
    """HR@k and NDCG@k of the held-out pairs, counted as `earworm eval` counts them: every
    item but the user's train items is a candidate, ties are pessimistic, an item the
    model does not know (or scores -inf/NaN) is a miss."""
    ranks = np.full(len(validation.users), np.inf)
    for start in range(0, len(validation.users), _VALIDATION_BATCH):
        part = slice(start, start + _VALIDATION_BATCH)
        users, items = validation.users[part], validation.items[part]
        scores = np.asarray(score_rows(users), dtype=np.float64)
        scores = np.where(np.isnan(scores), -np.inf, scores)
        scores[:, ~validation.known_items] = -np.inf
        seen = validation.seen[users].tocoo()
        scores[seen.row, seen.col] = -np.inf
        rows = np.arange(len(users))
        target = scores[rows, np.maximum(items, 0)]
        at_least = (scores >= target[:, None]).sum(axis=1) - 1  # not the held-out item itself
        ranked = (items >= 0) & np.isfinite(target)
        ranks[part] = np.where(ranked, 1.0 + at_least, np.inf)
    if len(ranks) == 0:
        return float("nan"), float("nan")
    hits = ranks <= k
    gains = np.where(hits, 1.0 / np.log2(ranks + 1.0), 0.0)
    return float(hits.mean()), float(gains.mean())


def _module_scores(module: NeuMF, device: torch.device) -> Callable[[IntArray], FloatArray]:
    items = module.item_side()

    def score(users: IntArray) -> FloatArray:
        tensor = torch.from_numpy(users).to(device)
        return module.score_all(tensor, items).double().cpu().numpy()

    return score


class Stopping:
    """When to stop: after `patience` validated epochs that did not beat the reference score
    by more than `min_delta`. The reference is the last score that did; a smaller gain
    still makes its epoch the best one (its weights are kept) but does not reset the
    count, so a plateau of tiny gains ends training instead of extending it."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_score, self.best_epoch = -np.inf, 0
        self.reference, self.waited = -np.inf, 0

    def update(self, epoch: int, score: float) -> bool:
        """Records a validated epoch's score; True when it is the best so far."""
        if score > self.reference + self.min_delta:
            self.reference, self.waited = score, 0
        else:
            self.waited += 1
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            return True
        return False

    @property
    def done(self) -> bool:
        return self.waited >= self.patience


class Trainer:
    """Fits NeuMF (optionally after pre-training each branch) and records the history."""

    def __init__(
        self,
        settings: Settings,
        *,
        n_users: int,
        n_items: int,
        device: torch.device,
        rng: np.random.Generator,
        progress: bool,
    ) -> None:
        self.settings = settings
        self.n_users, self.n_items = n_users, n_items
        self.device = device
        self.rng = rng
        self.progress = progress
        self.history: list[dict[str, Any]] = []

    def fit(self, feedback: Feedback, validation: Validation | None) -> NeuMF:
        s = self.settings
        if not s.pretrain:
            module = self._new(gmf=s.branches != "mlp", mlp=s.branches != "gmf")
            return self._train("neumf", module, feedback, validation, s.lr)
        gmf = self._train("gmf", self._new(gmf=True, mlp=False), feedback, validation, s.lr)
        mlp = self._train("mlp", self._new(gmf=False, mlp=True), feedback, validation, s.lr)
        fused = self._new(gmf=True, mlp=True)
        fuse_pretrained(gmf, mlp, fused, s.alpha)
        return self._train("neumf", fused, feedback, validation, s.lr * _FINE_TUNE_LR_SCALE)

    def _new(self, *, gmf: bool, mlp: bool) -> NeuMF:
        s = self.settings
        module = NeuMF(self.n_users, self.n_items, s.factors, s.mlp_layers, gmf=gmf, mlp=mlp)
        return module.to(self.device)

    def _train(
        self,
        stage: str,
        module: NeuMF,
        feedback: Feedback,
        validation: Validation | None,
        lr: float,
    ) -> NeuMF:
        """Epochs until `Stopping` says stop (or all `epochs` without validation); returns
        the module with its best epoch's weights. Validation starts at epoch
        `validate_from` (the last epoch is always validated): the first epochs are never
        the best ones, and scoring them costs time."""
        s = self.settings
        groups = [
            {"params": module.embedding_parameters(), "weight_decay": 0.0},
            {"params": module.layer_parameters(), "weight_decay": s.weight_decay},
        ]
        # fused: one kernel per step instead of several per tensor (CPU and CUDA alike).
        optimisers: list[torch.optim.Optimizer] = [torch.optim.Adam(groups, lr=lr, fused=True)]
        positive_codes = feedback.positive_codes
        stopping = Stopping(s.patience, s.min_delta)
        best_state: dict[str, torch.Tensor] | None = None
        bar = tqdm(
            range(1, s.epochs + 1), desc=f"NCF {stage}", unit="epoch", disable=not self.progress
        )
        for epoch in bar:
            started = time.perf_counter()
            samples = epoch_samples(feedback, s.negatives, positive_codes, self.rng)
            total = self._epoch(module, optimisers, samples)
            loss = total / max(float(samples.weights.sum()), 1e-12)
            record: dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": round(loss, 6)}
            if validation is not None and (epoch >= s.validate_from or epoch == s.epochs):
                module.eval()
                hr, ndcg = full_ranking_metrics(_module_scores(module, self.device), validation)
                module.train()
                record[f"val_hr@{VALIDATION_K}"] = round(hr, 6)
                record[f"val_ndcg@{VALIDATION_K}"] = round(ndcg, 6)
                if stopping.update(epoch, ndcg):
                    best_state = copy.deepcopy(module.state_dict())
            record["seconds"] = round(time.perf_counter() - started, 3)
            self.history.append(record)
            bar.set_postfix(
                loss=f"{loss:.4f}",
                ndcg=f"{record.get(f'val_ndcg@{VALIDATION_K}', float('nan')):.4f}",
            )
            if stopping.done:
                break
        bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
            for record in self.history:
                if record["stage"] == stage:
                    record["best"] = record["epoch"] == stopping.best_epoch
        module.eval()
        return module

    def _epoch(
        self, module: NeuMF, optimisers: list[torch.optim.Optimizer], samples: Epoch
    ) -> float:
        """One pass over the epoch's pairs; returns the summed weighted loss."""
        module.train()
        tensors = [
            torch.from_numpy(array).to(self.device)
            for array in (samples.users, samples.items, samples.labels, samples.weights)
        ]
        total = torch.zeros((), device=self.device)
        size = self.settings.batch_size
        decay = self.settings.weight_decay
        for users, items, labels, weights in zip(
            *(tensor.split(size) for tensor in tensors), strict=True
        ):
            for optimiser in optimisers:
                optimiser.zero_grad(set_to_none=True)
            logits, squares = module(users, items)
            losses = binary_cross_entropy_with_logits(logits, labels, reduction="none")
            summed = (losses * weights).sum()
            total += summed.detach()
            loss = summed / weights.sum()
            if decay:
                loss = loss + decay * squares.mean()
            loss.backward()
            for optimiser in optimisers:
                optimiser.step()
        return float(total)
