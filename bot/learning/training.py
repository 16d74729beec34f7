"""What a training run does with the feedback, in pure functions: check there is enough
to learn from, validate a model kind, fit it, and describe what it learned.

The run itself (a snapshot, a worker process, promotion) is in bot/learning/run.py and
bot/learning/worker.py. Models are measured with the evaluation harness (`evaluate_model`:
HR@10, NDCG@10, ... over a full ranking of every track with feedback, the member's own
tracks excluded, pessimistic ties).

Too little feedback is refused, not trained unmeasured: with fewer than
`MIN_VALIDATION_MEMBERS` members who liked `MIN_LIKES_PER_MEMBER` or more tracks there is no
held-out like to check a model against, and a collaborative model from a handful of likes is
no better than the trending and sounds-like recommendations the bot serves without one.
Plays count as implicit feedback here (a track played often enough is "liked": its weight
is positive), so members with imported or recorded listening are learned from too.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.serving.active_models import COLLABORATIVE_KINDS
from bot.settings import Settings
from recommender.artists import Playlists
from recommender.base import Recommender
from recommender.data import Interactions, ItemCatalog
from recommender.evaluation.models import ModelUnavailable, build_model
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.evaluation.splits import leave_one_out

# The collaborative models the bot serves (bot.serving.active_models), the hybrid whose
# blend weights are tuned over them (and content and popularity) on a validation split, and
# the artist relations /similar, /mix and /artist place tracks with (recommender/artists.py,
# bot/serving/relations.py), learned from the catalog's playlists and members' likes and
# plays.
KINDS: tuple[str, ...] = (*COLLABORATIVE_KINDS, "hybrid", "artists")
VALIDATION_K = 10
MIN_VALIDATION_MEMBERS = 2
MIN_LIKES_PER_MEMBER = 2  # one held out, at least one left to learn the member's taste from
MODELS_FOLDER = "models"
LOCK_FILE = ".training.lock"

Progress = Callable[[str], None]


class TrainingError(Exception):
    """Training cannot start or finish; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class TrainingData:
    """What the models learn from: the catalog, and every feedback row followed by every
    member's plays per track as interactions (recommender.plays weighs them: explicit
    feedback always outweighs listening). The first `feedback_rows` interactions are the
    feedback rows, in the snapshot's order; the plays come after them."""

    catalog: ItemCatalog
    interactions: Interactions
    feedback_rows: int = -1  # -1: all of them are feedback (no plays)
    # The catalog's public playlists: baskets the artist relations learn from (they always
    # train, never held out: they are no member's feedback).
    playlists: Playlists | None = None

    @property
    def play_rows(self) -> int:
        """How many interactions are plays (aggregated per member and track)."""
        return 0 if self.feedback_rows < 0 else len(self.interactions) - self.feedback_rows


@dataclass(frozen=True)
class FeedbackSummary:
    rows: int
    members: int
    tracks: int
    positive_rows: int
    validatable_members: int  # members with MIN_LIKES_PER_MEMBER or more liked tracks


def summarise_feedback(interactions: Interactions) -> FeedbackSummary:
    """Counts that decide whether a model can be trained and validated.

    A liked track is a (member, track) pair whose feedback sums to a positive weight, as
    the validation split counts it (a like then a dislike of one track cancel out)."""
    if len(interactions) == 0:
        return FeedbackSummary(0, 0, 0, 0, 0)
    users, user_index = np.unique(interactions.users, return_inverse=True)
    items, item_index = np.unique(interactions.items, return_inverse=True)
    pair_codes, pair_index = np.unique(
        user_index.astype(np.int64) * len(items) + item_index, return_inverse=True
    )
    pair_weight = np.bincount(pair_index, weights=interactions.weights)
    liked_per_member = np.bincount(pair_codes[pair_weight > 0] // len(items), minlength=len(users))
    return FeedbackSummary(
        rows=len(interactions),
        members=len(users),
        tracks=len(items),
        positive_rows=int(np.sum(interactions.weights > 0)),
        validatable_members=int(np.sum(liked_per_member >= MIN_LIKES_PER_MEMBER)),
    )


def check_trainable(summary: FeedbackSummary) -> None:
    """TrainingError unless there is enough positive feedback to train and validate."""
    if summary.rows == 0:
        raise TrainingError(
            "there is no feedback yet: a collaborative model learns from members' likes "
            "and plays; ask again once members have reacted to some recommendations or "
            "imported their listening"
        )
    if summary.positive_rows == 0:
        raise TrainingError(
            f"all {summary.rows:,} feedback rows are negative (dislikes, skips or low "
            "ratings): a collaborative model learns from what members like; nothing was trained"
        )
    if summary.validatable_members < MIN_VALIDATION_MEMBERS:
        raise TrainingError(
            f"not enough feedback to validate a model: {summary.validatable_members} member(s) "
            f"liked {MIN_LIKES_PER_MEMBER} or more tracks, at least {MIN_VALIDATION_MEMBERS} "
            "must (one like each is held out to measure the model); nothing was trained"
        )


# --- fitting -----------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None and numpy scalars as Python numbers: the
    registry stores strict JSON."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# Settings of how a model runs, not what it learned: left out of its hyperparameters.
_NOT_HYPERPARAMETERS = frozenset({"seed", "threads", "device", "ncf_format", "progress"})


def hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters a fitted model uses, from its saved parameters: the chosen ones
    when it searched (ALS's `chosen`), else its single-valued settings (NCF's)."""
    chosen = params.get("chosen")
    if isinstance(chosen, dict):
        return dict(chosen)
    return {
        name: value
        for name, value in params.items()
        if name not in _NOT_HYPERPARAMETERS
        and (isinstance(value, str | int | float | bool) or _is_number_list(value))
    }


def _is_number_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, int | float) for item in value)


def tuning_summary(params: dict[str, Any]) -> dict[str, Any]:
    """How the hyperparameters or the stopping point were chosen, without the tables."""
    for key in ("tuning", "training"):
        record = params.get(key)
        if isinstance(record, dict):
            return {
                name: value
                for name, value in record.items()
                if name not in {"table", "history"} and not isinstance(value, dict | list)
            }
    return {}


def new_model(kind: str, seed: int, playlists: Playlists | None = None) -> Recommender:
    """An unfitted model of `kind` (the artist relations with the catalog's `playlists`);
    TrainingError when its code cannot be loaded here."""
    if kind == "hybrid":  # blends every collaborative model the bot serves
        from recommender.hybrid import Hybrid

        return Hybrid(seed=seed, collaborative=COLLABORATIVE_KINDS)
    if kind == "artists":
        from recommender.artists import ArtistRelations

        return ArtistRelations(seed=seed, playlists=playlists)
    try:
        return build_model(kind, seed)
    except ModelUnavailable as exc:
        raise TrainingError(str(exc)) from None


def validate(kind: str, data: TrainingData, seed: int) -> dict[str, Any]:
    """The validation figures of a `kind` model (see the module docstring)."""
    split = leave_one_out(data.interactions, seed=seed, min_interactions=MIN_LIKES_PER_MEMBER)
    model = new_model(kind, seed, data.playlists)
    started = time.perf_counter()
    model.fit(split.train, data.catalog)
    fit_seconds = time.perf_counter() - started
    evaluation = EvaluationData(train=split.train, test=split.test, catalog=data.catalog)
    values = evaluate_model(model, evaluation, VALIDATION_K)
    return {
        **values,
        "validation_members": len(np.unique(split.test.users)),
        "validation_tracks": len(evaluation.items),
        "validation": (
            f"leave-one-out (seed {seed}): one liked track held out per member with "
            f"{MIN_LIKES_PER_MEMBER}+ likes, full ranking over every track with feedback, "
            "the member's own tracks excluded, pessimistic ties"
        ),
        "validation_fit_seconds": round(fit_seconds, 3),
    }


def fit_details(
    model: Recommender, data: TrainingData, seed: int, seconds: float
) -> dict[str, Any]:
    """What a model fitted on all the feedback records beside its validation figures."""
    params, _ = model.state()
    details: dict[str, Any] = {
        "seed": seed,
        "fit_seconds": round(seconds, 3),
        "members": len(data.interactions.user_vocab),
        "tracks": len(data.interactions.item_vocab),
        "hyperparameters": hyperparameters(params),
        "tuning": tuning_summary(params),
        "params": params,  # everything the model saved, the tuning table included
    }
    if "weights" in params:  # the hybrid's blend, which serving reads from the registry
        details["weights"] = params["weights"]
    return details


def model_class(kind: str) -> type[Recommender]:
    """The class that loads a `kind` artifact."""
    if kind == "hybrid":
        from recommender.hybrid import Hybrid

        return Hybrid
    if kind == "artists":
        from recommender.artists import ArtistRelations

        return ArtistRelations
    from recommender.hybrid import component_class

    return component_class(kind)


# --- saving and registering --------------------------------------------------------------


def models_dir(settings: Settings) -> Path:
    return (settings.data_dir / MODELS_FOLDER).resolve()


def artifact_dir(settings: Settings, kind: str, version: int) -> Path:
    return models_dir(settings) / kind / f"v{version}"


@contextlib.contextmanager
def training_lock(settings: Settings) -> Iterator[None]:
    """One training per data directory at a time; a second one fails at once."""
    folder = models_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(
                f"another training is running on {folder.parent}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
