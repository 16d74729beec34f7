"""The training loop: BCE with logits, Adam, negatives re-drawn each epoch, early stopping
on validation NDCG@10 over a full ranking (the best epoch's weights are kept).

The embedding tables get sparse gradients and SparseAdam (a step touches only the rows
its batch looked up: with dense gradients Adam's update of every row was 70 % of the
time on Last.fm); the layers get Adam. `weight_decay` is the optimiser's for the layers
and, for the embeddings, an L2 penalty on the rows each batch looks up (weight_decay x
the mean squared norm of a pair's embeddings), the usual form with sparse updates.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from tqdm import tqdm

from recommender.ncf._module import NeuMF, fuse_pretrained
from recommender.ncf._sampling import Feedback, epoch_samples

IntArray = npt.NDArray[np.int64]
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
    pretrain: bool
    alpha: float


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
            return self._train("neumf", self._new(gmf=True, mlp=True), feedback, validation, s.lr)
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
        """Epochs until validation NDCG@10 has not improved for `patience` epochs (or all
        `epochs` without validation); returns the module with its best epoch's weights."""
        s = self.settings
        optimisers = [
            torch.optim.SparseAdam(module.sparse_parameters(), lr=lr),
            torch.optim.Adam(module.dense_parameters(), lr=lr, weight_decay=s.weight_decay),
        ]
        loss_function = torch.nn.BCEWithLogitsLoss()
        positive_codes = feedback.positive_codes
        best_score, best_state, best_epoch, waited = -np.inf, None, 0, 0
        bar = tqdm(
            range(1, s.epochs + 1), desc=f"NCF {stage}", unit="epoch", disable=not self.progress
        )
        for epoch in bar:
            started = time.perf_counter()
            users, items, labels = epoch_samples(feedback, s.negatives, positive_codes, self.rng)
            total = self._epoch(module, optimisers, loss_function, users, items, labels)
            loss = total / max(len(labels), 1)
            record: dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": round(loss, 6)}
            if validation is not None:
                module.eval()
                hr, ndcg = full_ranking_metrics(_module_scores(module, self.device), validation)
                module.train()
                record[f"val_hr@{VALIDATION_K}"] = round(hr, 6)
                record[f"val_ndcg@{VALIDATION_K}"] = round(ndcg, 6)
                if ndcg > best_score:
                    best_score, best_epoch, waited = ndcg, epoch, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    waited += 1
            record["seconds"] = round(time.perf_counter() - started, 3)
            self.history.append(record)
            bar.set_postfix(
                loss=f"{loss:.4f}",
                ndcg=f"{record.get(f'val_ndcg@{VALIDATION_K}', float('nan')):.4f}",
            )
            if validation is not None and waited >= s.patience:
                break
        bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
            for record in self.history:
                if record["stage"] == stage:
                    record["best"] = record["epoch"] == best_epoch
        module.eval()
        return module

    def _epoch(
        self,
        module: NeuMF,
        optimisers: list[torch.optim.Optimizer],
        loss_function: torch.nn.Module,
        users: IntArray,
        items: IntArray,
        labels: npt.NDArray[np.float32],
    ) -> float:
        module.train()
        user_tensor = torch.from_numpy(users).to(self.device)
        item_tensor = torch.from_numpy(items).to(self.device)
        label_tensor = torch.from_numpy(labels).to(self.device)
        total = 0.0
        size = self.settings.batch_size
        decay = self.settings.weight_decay
        for start in range(0, len(labels), size):
            batch = slice(start, start + size)
            for optimiser in optimisers:
                optimiser.zero_grad(set_to_none=True)
            logits, squares = module(user_tensor[batch], item_tensor[batch])
            loss = loss_function(logits, label_tensor[batch])
            total += float(loss.detach()) * len(logits)
            if decay:
                loss = loss + decay * squares.mean()
            loss.backward()
            for optimiser in optimisers:
                optimiser.step()
        return total
