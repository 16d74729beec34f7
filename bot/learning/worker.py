"""The training worker: a separate process that turns a snapshot into candidate models.

`earworm worker train RUN_DIR` reads only the run's files: `plan.json` (which kinds to
train, the version and artifact directory of each, the active models to beat) and
`snapshot.npz` (the catalog, feedback and plays, see storage.snapshot). Plays join the
feedback as implicit interactions (recommender.plays) and always train. For each kind it

1. measures the candidate on a **time-based holdout**: feedback newer than a cutoff is held
   out; a model of the kind is fitted on the older rows and ranks every track for each
   member who liked something new (full ranking, the member's older tracks excluded). The
   cutoff is the newest feedback the active model saw, or later (the newest
   `HOLDOUT_FRACTION` of rows), so the active model is scored on feedback it never saw and
   the two are compared fairly, on the same members and rows;
2. scores the active model on the same holdout;
3. fits the model that would serve on all the snapshot and saves it atomically to its
   artifact directory;

then writes `report.json`. It decides nothing: the bot promotes or rejects from the report.
Without an active model and with too little new feedback for a holdout it validates with
leave-one-out instead (the first model must start somewhere); with an active model and too
little new feedback it fits nothing and reports why.

Progress goes to stderr as `progress: ...` lines; a failure ends with one `error:` line.
`EARWORM_TRAINING_FAULT` injects a failure for tests (see FAULTS).
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.learning.training import (
    MIN_LIKES_PER_MEMBER,
    VALIDATION_K,
    TrainingData,
    TrainingError,
    check_trainable,
    fit_details,
    json_safe,
    model_class,
    new_model,
    summarise_feedback,
    validate,
)
from bot.serving.catalog import item_catalog
from recommender.artists import Playlists
from recommender.data import Interactions
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.evaluation.splits import newer_than
from recommender.feedback import feedback_weight
from recommender.plays import play_interactions
from storage.snapshot import Snapshot, read_snapshot

PLAN = "plan.json"
SNAPSHOT = "snapshot.npz"
REPORT = "report.json"
HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT_MEMBERS = 2
FAULT_VARIABLE = "EARWORM_TRAINING_FAULT"
# Failures a test can inject: an exception, a crash, a hang (to be killed), a full disk
# while saving, an artifact damaged after saving.
FAULTS = ("raise", "crash", "hang", "disk-full", "corrupt-artifact")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ActiveInfo:
    """An active model as the plan describes it."""

    kind: str
    version: int
    artifact: str | None
    through_id: int | None  # the newest feedback row it was trained on, when known
    trained_at: str | None
    weights: dict[str, Any] | None


@dataclass(frozen=True)
class Candidate:
    kind: str
    version: int
    artifact: str


@dataclass(frozen=True)
class Plan:
    candidates: tuple[Candidate, ...]
    active: dict[str, ActiveInfo]
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "candidates": [vars(c) for c in self.candidates],
            "active": {kind: vars(info) for kind, info in self.active.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            candidates=tuple(Candidate(**item) for item in data["candidates"]),
            active={kind: ActiveInfo(**info) for kind, info in data["active"].items()},
            seed=int(data["seed"]),
        )


def write_json_atomically(path: Path, value: object) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(value, indent=2, allow_nan=False))
    os.replace(staging, path)


def fault(point: str) -> None:
    """Fail here if a test asked for this failure (EARWORM_TRAINING_FAULT)."""
    wanted = os.environ.get(FAULT_VARIABLE, "")
    if wanted == "raise" and point == "start":
        raise RuntimeError("injected failure in the training worker")
    if wanted == "crash" and point == "fit":
        os.kill(os.getpid(), signal.SIGSEGV)
    if wanted == "hang" and point == "fit":
        time.sleep(3600)
    if wanted == "disk-full" and point == "save":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def corrupt_if_asked(directory: Path) -> None:
    if os.environ.get(FAULT_VARIABLE) == "corrupt-artifact":
        arrays = directory / "arrays.npz"
        arrays.write_bytes(arrays.read_bytes()[: max(1, arrays.stat().st_size // 2)])


# --- the snapshot as training data ---------------------------------------------------------


def training_data(snapshot: Snapshot) -> TrainingData:
    """The snapshot's feedback rows, then its plays (per member and track, weighted by
    recommender.plays, timed at the last play), as one set of interactions: nightly ALS
    learns from members' listening as well as from their reactions."""
    weights = [
        feedback_weight(kind, None if math.isnan(value) else int(value))
        for kind, value in zip(snapshot.kinds.tolist(), snapshot.values.tolist(), strict=True)
    ]
    feedback = Interactions(
        users=snapshot.users.astype(np.str_),
        items=snapshot.tracks,
        weights=np.asarray(weights, dtype=np.float64),
        timestamps=snapshot.created,
    )
    plays = snapshot.plays
    listened = play_interactions(
        plays.users, plays.tracks, plays.plays, plays.skips, plays.last_played
    )
    interactions = Interactions(
        users=np.concatenate([feedback.users, listened.users]).astype(np.str_),
        items=np.concatenate([feedback.items, listened.items]).astype(np.str_),
        weights=np.concatenate([feedback.weights, listened.weights]),
        timestamps=np.concatenate([feedback.timestamps, listened.timestamps]).astype(np.int64),
    )
    return TrainingData(
        catalog=item_catalog(snapshot.catalog),
        interactions=interactions,
        feedback_rows=len(feedback),
        playlists=Playlists.of(snapshot.playlists.tracks, snapshot.playlists.playlists),
    )


def newer_feedback(snapshot: Snapshot, data: TrainingData, cutoff: int) -> np.ndarray:
    """Which interactions the holdout takes: feedback rows after `cutoff`. Plays always
    train: they have no feedback id, and the holdout measures what members told the bot
    about what it showed them."""
    newer = np.zeros(len(data.interactions), dtype=bool)
    newer[: len(snapshot)] = snapshot.feedback_ids > cutoff
    return newer


def cutoff_id(snapshot: Snapshot, active: list[ActiveInfo]) -> int:
    """Rows with a larger id are the holdout: the newest HOLDOUT_FRACTION of them, or fewer
    so that no active model compared against has seen any of them."""
    ids = snapshot.feedback_ids
    if len(ids) == 0:
        return 0
    cutoff = int(ids[min(len(ids) - 1, int(len(ids) * (1 - HOLDOUT_FRACTION)))])
    for info in active:
        cutoff = max(cutoff, seen_through(snapshot, info))
    return cutoff


def seen_through(snapshot: Snapshot, info: ActiveInfo) -> int:
    """The newest feedback id an active model may have trained on."""
    if info.through_id is not None:
        return info.through_id
    if info.trained_at is None:  # unknown: assume it saw everything
        return snapshot.max_feedback_id
    trained = datetime.fromisoformat(info.trained_at).timestamp()
    seen = snapshot.feedback_ids[snapshot.created <= trained]
    return int(seen.max()) if len(seen) else 0


# --- measuring -----------------------------------------------------------------------------


def compared_actives(kind: str, plan: Plan) -> list[ActiveInfo]:
    """The active models a `kind` candidate is compared with: its own kind's, and for the
    hybrid also the collaborative models its serving blend is composed of."""
    names = [kind] + (["als", "ncf"] if kind == "hybrid" else [])
    return [plan.active[name] for name in names if name in plan.active]


def load_active(kind: str, plan: Plan, data: TrainingData, train: Interactions) -> Any:
    """The active `kind` model as it serves, or None when there is none or it cannot load."""
    from recommender.hybrid import component_class

    info = plan.active.get(kind)
    if info is None or not info.artifact:
        return None
    if kind != "hybrid":
        return model_class(kind).load(Path(info.artifact))
    from bot.serving.active_models import ActiveModels, compose_hybrid

    components = {
        name: component_class(name).load(Path(plan.active[name].artifact or ""))
        for name in ("als", "ncf")
        if name in plan.active and plan.active[name].artifact
    }
    versions = {name: plan.active[name].version for name in components}
    active = ActiveModels(components, versions, {}, info.weights, f"hybrid v{info.version}")
    content = component_class("content")(mode="genre").fit(train, data.catalog)  # type: ignore[call-arg]
    hybrid, _ = compose_hybrid(active, content, train, data.catalog)
    return hybrid


def holdout_comparison(
    candidate: Candidate, plan: Plan, data: TrainingData, snapshot: Snapshot, progress: Progress
) -> dict[str, Any]:
    """Candidate and active figures on the time-based holdout; `usable` False (and no
    figures) when too few members liked something new."""
    kind = candidate.kind
    actives = compared_actives(kind, plan)
    cutoff = cutoff_id(snapshot, actives)
    split = newer_than(data.interactions, newer_feedback(snapshot, data, cutoff))
    members = len(np.unique(split.test.users))
    if members < MIN_HOLDOUT_MEMBERS:
        return {"usable": False, "members": members, "cutoff_feedback_id": cutoff}
    evaluation = EvaluationData(train=split.train, test=split.test, catalog=data.catalog)
    progress(f"{kind}: fitting on {len(split.train):,} older rows to measure it")
    fault("fit")
    model = new_model(kind, plan.seed, data.playlists).fit(split.train, data.catalog)
    progress(f"{kind}: ranking the newest feedback of {members:,} members")
    figures = evaluate_model(model, evaluation, VALIDATION_K)
    active_figures: dict[str, Any] | None = None
    active_error: str | None = None
    if kind in plan.active:
        try:
            active_model = load_active(kind, plan, data, split.train)
            if active_model is not None:
                active_figures = evaluate_model(active_model, evaluation, VALIDATION_K)
        except Exception as exc:  # a damaged active model is no reason to keep it
            active_error = f"{type(exc).__name__}: {exc}"
    return {
        "usable": True,
        "method": (
            f"time holdout: feedback after row {cutoff} held out, {members} members, "
            "full ranking, older tracks excluded, pessimistic ties"
        ),
        "members": members,
        "holdout_pairs": len(split.test),
        "train_rows": len(split.train),
        "cutoff_feedback_id": cutoff,
        "candidate": figures,
        "active": active_figures,
        "active_version": plan.active[kind].version if kind in plan.active else None,
        "active_error": active_error,
    }


# --- one run -------------------------------------------------------------------------------


def train_candidate(
    candidate: Candidate, plan: Plan, data: TrainingData, snapshot: Snapshot, progress: Progress
) -> dict[str, Any]:
    kind = candidate.kind
    comparison = holdout_comparison(candidate, plan, data, snapshot, progress)
    result: dict[str, Any] = {
        "kind": kind,
        "version": candidate.version,
        "feedback_through_id": snapshot.max_feedback_id,
        "training_rows": len(data.interactions),
        "play_rows": data.play_rows,
    }
    if not comparison["usable"] and kind in plan.active:
        active = plan.active[kind]
        result["outcome"] = "too-little-new-feedback"
        result["comparison"] = comparison
        result["reason"] = (
            f"too little new feedback to compare with {kind} v{active.version}: "
            f"{comparison['members']} member(s) liked something new since it was trained, "
            f"{MIN_HOLDOUT_MEMBERS} needed"
        )
        return result
    metrics: dict[str, Any] = {}
    if comparison["usable"]:
        metrics.update(comparison["candidate"])
        metrics["validation"] = comparison["method"]
        metrics["validation_members"] = comparison["members"]
    else:
        progress(f"{kind}: validating (leave-one-out, seed {plan.seed}): no holdout yet")
        fault("fit")
        metrics.update(validate(kind, data, plan.seed))
    progress(f"{kind}: fitting on all {len(data.interactions):,} feedback rows")
    model = new_model(kind, plan.seed, data.playlists)
    started = time.perf_counter()
    model.fit(data.interactions, data.catalog)
    metrics.update(fit_details(model, data, plan.seed, time.perf_counter() - started))
    metrics["feedback_through_id"] = snapshot.max_feedback_id
    metrics["play_rows"] = data.play_rows  # (member, track) pairs of plays among the rows
    metrics["plays_through_id"] = snapshot.max_play_id
    progress(f"{kind}: saving v{candidate.version}")
    fault("save")
    model.save(Path(candidate.artifact))
    corrupt_if_asked(Path(candidate.artifact))
    result.update(
        outcome="trained",
        artifact=candidate.artifact,
        trained_at=datetime.now(UTC).isoformat(),
        metrics=json_safe(metrics),
        comparison=json_safe(comparison) if comparison["usable"] else None,
    )
    return result


def run(run_dir: Path, progress: Progress) -> dict[str, Any]:
    """Train every candidate of the plan in `run_dir`; writes and returns the report."""
    plan = Plan.from_json(json.loads((run_dir / PLAN).read_text()))
    progress("reading the snapshot")
    snapshot = read_snapshot(run_dir / SNAPSHOT)
    data = training_data(snapshot)
    fault("start")
    summary = summarise_feedback(data.interactions)
    check_trainable(summary)
    for candidate in plan.candidates:
        new_model(candidate.kind, plan.seed)  # missing model code fails before any fitting
    results = []
    for position, candidate in enumerate(plan.candidates, start=1):
        progress(f"{candidate.kind} ({position}/{len(plan.candidates)})")
        try:
            results.append(train_candidate(candidate, plan, data, snapshot, progress))
        except OSError as exc:
            raise TrainingError(f"cannot write the {candidate.kind} model: {exc}") from None
    report = {
        "snapshot": snapshot.header,
        "members_with_likes": summary.validatable_members,
        "min_likes_per_member": MIN_LIKES_PER_MEMBER,
        "results": results,
    }
    write_json_atomically(run_dir / REPORT, report)
    return report
