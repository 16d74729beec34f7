"""One training run, end to end: snapshot → train → evaluate → register → promote → swap.

1. Under the data directory's training lock (one run at a time, also across processes),
   models a dead run left as "training" are marked failed and its files removed.
2. Each kind gets its next version, registered as "training", and a run directory under
   `<data dir>/training/` receives `plan.json`.
3. `earworm worker snapshot` (a child process: a million rows of SQL never touch the bot's
   event loop) writes the catalog and feedback to `snapshot.npz` (storage.snapshot).
4. `earworm worker train` (a child process at low CPU priority, reading only the run
   directory) fits and measures every candidate on a time-based holdout against the active
   model and saves the artifacts atomically (bot/learning/worker.py).
5. Here again: each artifact is read back; a candidate is promoted when there is no active
   model or it is not worse than the active one beyond `promotion_tolerance` (relative
   NDCG@10 on the same holdout), else kept as "rejected" with its numbers. One transaction
   records every outcome.
6. `on_promoted` (the bot swaps its engine) runs; if the new models cannot be loaded, the
   previous ones are made active again and the candidates marked failed.
7. Only the newest `keep_model_versions` versions of each kind keep their files.

Any failure (an exception or crash in the worker, a kill, a full disk, an unreadable
artifact) ends in a "failed" outcome with its reason, the candidates marked failed and
their files removed: the active models keep serving and the next run starts clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.learning.training import KINDS, TrainingError, artifact_dir, training_lock
from bot.learning.worker import PLAN, REPORT, ActiveInfo, Candidate, Plan
from bot.settings import Settings
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.bot_settings import get_setting, set_setting
from storage.repositories.registry import (
    ModelRecord,
    activate,
    active_model,
    fail_unfinished,
    finish_model,
    forget_artifact,
    list_models,
    register_model,
)

log = logging.getLogger(__name__)

RUNS_FOLDER = "training"
THROUGH_KEY = "training_feedback_through"  # newest feedback row the last run saw
PLAYS_THROUGH_KEY = "training_plays_through"  # newest play the last run saw
MAX_REASON = 900
STEPS = ("snapshot", "train")

Progress = Callable[[str], None]
Started = Callable[[int], None]
Promoted = Callable[["RunOutcome"], Awaitable[None]]


class TrainingBusy(Exception):
    """Another run holds the data directory's training lock (e.g. `earworm train`)."""


class RunFailed(Exception):
    """A step of the run failed; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """How one candidate ended: ACTIVE (promoted), REJECTED or FAILED, and why."""

    kind: str
    version: int
    status: ModelStatus
    reason: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    training_rows: int | None = None
    compared_with: int | None = None  # the active version it was measured against

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "status": self.status.value,
            "reason": self.reason,
            "training_rows": self.training_rows,
            "compared_with": self.compared_with,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True, slots=True)
class RunOutcome:
    kinds: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    results: tuple[CandidateResult, ...] = ()
    error: str | None = None  # the run failed: nothing was promoted
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def promoted(self) -> tuple[CandidateResult, ...]:
        return tuple(r for r in self.results if r.status is ModelStatus.ACTIVE)

    @property
    def label(self) -> str:
        return kinds_label(self.kinds)

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "error": self.error,
            "warning": self.warning,
            "results": [result.to_json() for result in self.results],
        }


@dataclass(frozen=True)
class RunOptions:
    seed: int = 0
    tolerance: float = 0.1
    keep_versions: int = 5


def parse_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """ "all", one kind, or several ("als,ncf" or a sequence), in KINDS order; ValueError
    for anything else."""
    names = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    names = [name.strip() for name in names if name.strip()]
    if names == ["all"]:
        return KINDS
    unknown = [name for name in names if name not in KINDS]
    if unknown or not names:
        shown = unknown[0] if unknown else ""
        raise ValueError(f"unknown model {shown!r}; choose from all, {', '.join(KINDS)}")
    return tuple(kind for kind in KINDS if kind in names)


def kinds_label(kinds: Sequence[str]) -> str:
    """ "all", or the kinds joined by "+", as /admin shows a run."""
    return "all" if set(kinds) == set(KINDS) else "+".join(kinds)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def runs_dir(settings: Settings) -> Path:
    return (settings.data_dir / RUNS_FOLDER).resolve()


def worker_environment(settings: Settings) -> dict[str, str]:
    """The bot's environment with its data directory and database spelled out, so the
    workers read exactly the database the bot serves from."""
    env = dict(os.environ)
    env["EARWORM_DATA_DIR"] = str(settings.data_dir.resolve())
    env["EARWORM_DATABASE_URL"] = settings.resolved_database_url
    env["EARWORM_LOG_LEVEL"] = settings.log_level
    # The workers' stderr is read by this process (`progress:` and `error:` lines), which
    # logs what matters in its own format: keep the protocol plain text.
    env["EARWORM_LOG_FORMAT"] = "text"
    return env


# --- the workers ---------------------------------------------------------------------------


def exit_reason(step: str, returncode: int, tail: Sequence[str]) -> str:
    """Why a worker failed: its `error:` line, the signal that ended it, or its last words."""
    for line in reversed(tail):
        if line.startswith("error:"):
            return _shorten(line.removeprefix("error:").strip())
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        how = "was killed" if -returncode in (signal.SIGKILL, signal.SIGTERM) else "crashed"
        return f"the {step} process {how} ({name or 'signal ' + str(-returncode)})"
    last = f": {tail[-1]}" if tail else ""
    return _shorten(f"the {step} process stopped with exit status {returncode}{last}")


async def run_worker(
    step: str, run_dir: Path, settings: Settings, progress: Progress, started: Started
) -> None:
    """Run `earworm worker <step> RUN_DIR` and wait; RunFailed with the reason if it fails.
    Cancelling kills it."""
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "worker", step, str(run_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=worker_environment(settings),
        )  # fmt: skip
    except OSError as exc:
        raise RunFailed(f"cannot start the {step} process: {exc}") from None
    started(process.pid)
    tail: deque[str] = deque(maxlen=20)
    assert process.stderr is not None
    try:
        async for raw in process.stderr:
            line = raw.decode(errors="replace").strip()
            if line.startswith("progress: "):
                progress(line.removeprefix("progress: "))
            elif line:
                tail.append(line)
        returncode = await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    if returncode != 0:
        raise RunFailed(exit_reason(step, returncode, list(tail)))


# --- before: the lock, leftovers, the plan -------------------------------------------------


async def clean_interrupted(database: Database, settings: Settings) -> list[ModelRecord]:
    """Mark models a dead run left as "training" failed and remove their files and run
    directories. Call only while holding the training lock."""
    async with database.sessions() as session:
        stale = await fail_unfinished(
            session, "interrupted: the process running this training stopped before it finished"
        )
        await session.commit()
    for record in stale:
        if record.artifact_path:
            await asyncio.to_thread(shutil.rmtree, record.artifact_path, True)
    folder = runs_dir(settings)
    if folder.is_dir():
        for leftover in folder.iterdir():
            await asyncio.to_thread(shutil.rmtree, leftover, True)
    if stale:
        log.warning("marked %d interrupted training(s) failed", len(stale))
    return stale


async def recover_interrupted(settings: Settings, database: Database) -> None:
    """At start-up: clean up after a run that died with the process, unless a run from
    another process holds the lock (it is not dead)."""
    try:
        with training_lock(settings):
            await clean_interrupted(database, settings)
    except TrainingError:
        log.info("a training from another process is running; leaving its models alone")


def _active_info(record: ModelRecord) -> ActiveInfo:
    through = record.metrics.get("feedback_through_id")
    weights = record.metrics.get("weights")
    return ActiveInfo(
        kind=record.kind,
        version=record.version,
        artifact=record.artifact_path,
        through_id=through if isinstance(through, int) else None,
        trained_at=record.trained_at.isoformat() if record.trained_at else None,
        weights=weights if isinstance(weights, dict) else None,
    )


async def register_candidates(
    database: Database, settings: Settings, kinds: Sequence[str], seed: int
) -> Plan:
    """Register each kind's next version as "training" and describe the run."""
    candidates = []
    active: dict[str, ActiveInfo] = {}
    async with database.sessions() as session:
        for kind in KINDS:
            record = await active_model(session, kind)
            if record is not None:
                active[kind] = _active_info(record)
        for kind in kinds:
            record = await register_model(
                session,
                kind,
                status=ModelStatus.TRAINING,
                trained_at=None,
                training_rows=None,
                metrics={},
                artifact_path=None,
            )
            path = artifact_dir(settings, kind, record.version)
            candidates.append(Candidate(kind, record.version, str(path)))
        await session.commit()
    return Plan(candidates=tuple(candidates), active=active, seed=seed)


# --- after: read back, decide, record ------------------------------------------------------


def verify_artifact(kind: str, path: str) -> None:
    """Load the saved model as serving would; raises if it cannot."""
    from bot.learning.training import model_class

    model_class(kind).load(Path(path))


def decide(result: Mapping[str, Any], tolerance: float) -> tuple[bool, str]:
    """Promote or reject a trained candidate, and the reason in a line."""
    comparison = result.get("comparison")
    if not comparison:
        return True, "no active model to compare with (validated by leave-one-out)"
    version = comparison.get("active_version")
    ours = comparison["candidate"].get("ndcg@10") or 0.0
    members = comparison["members"]
    if version is None:
        return True, f"no active model to compare with; NDCG@10 {ours:.3f} on {members} members"
    if comparison.get("active") is None:
        why = comparison.get("active_error") or "it could not be loaded"
        return True, f"v{version} could not be measured ({_shorten(why)[:200]})"
    theirs = comparison["active"].get("ndcg@10") or 0.0
    figures = (
        f"NDCG@10 {ours:.3f} vs v{version}'s {theirs:.3f} on the newest feedback of "
        f"{members} members"
    )
    if ours >= theirs * (1 - tolerance):
        return True, figures
    return False, f"{figures}: worse beyond the {tolerance:.0%} tolerance"


def _status_and_reason(
    result: Mapping[str, Any], tolerance: float, load_error: str | None
) -> tuple[ModelStatus, str]:
    if result["outcome"] != "trained":
        return ModelStatus.REJECTED, str(result.get("reason", "not trained"))
    if load_error is not None:
        return ModelStatus.FAILED, _shorten(f"its saved files cannot be loaded: {load_error}")
    promote, reason = decide(result, tolerance)
    return (ModelStatus.ACTIVE if promote else ModelStatus.REJECTED), reason


async def conclude(
    database: Database, plan: Plan, report: Mapping[str, Any], tolerance: float
) -> list[CandidateResult]:
    """Check, decide and record every candidate of the report in one transaction."""
    by_kind = {item["kind"]: item for item in report["results"]}
    rows: list[tuple[CandidateResult, datetime | None, dict[str, Any], str | None]] = []
    for candidate in plan.candidates:
        item = by_kind.get(candidate.kind)
        if item is None:
            raise RunFailed(f"the training report has no {candidate.kind} result")
        load_error = None
        if item["outcome"] == "trained":
            try:
                await asyncio.to_thread(verify_artifact, candidate.kind, candidate.artifact)
            except Exception as exc:
                load_error = str(exc)
                await asyncio.to_thread(shutil.rmtree, candidate.artifact, True)
        status, reason = _status_and_reason(item, tolerance, load_error)
        metrics = dict(item.get("metrics") or {})
        if item.get("comparison"):
            metrics["comparison"] = item["comparison"]
        compared = (item.get("comparison") or {}).get("active_version")
        result = CandidateResult(
            kind=candidate.kind,
            version=candidate.version,
            status=status,
            reason=reason,
            metrics=metrics,
            training_rows=item.get("training_rows"),
            compared_with=compared,
        )
        trained_at = datetime.fromisoformat(item["trained_at"]) if "trained_at" in item else None
        kept = item["outcome"] == "trained" and status is not ModelStatus.FAILED
        rows.append((result, trained_at, metrics, candidate.artifact if kept else None))
    async with database.sessions() as session:
        for result, trained_at, metrics, artifact in rows:
            await finish_model(
                session,
                result.kind,
                result.version,
                status=result.status,
                trained_at=trained_at,
                training_rows=result.training_rows,
                metrics=metrics,
                artifact_path=artifact,
                note=result.reason,
            )
        await set_setting(session, THROUGH_KEY, str(report["snapshot"]["max_feedback_id"]))
        plays = report["snapshot"].get("max_play_id")
        if plays is not None:
            await set_setting(session, PLAYS_THROUGH_KEY, str(plays))
        await session.commit()
    return [result for result, *_ in rows]


async def mark_failed(database: Database, plan: Plan, reason: str) -> list[CandidateResult]:
    """Record every candidate of `plan` as failed and remove whatever files it left."""
    for candidate in plan.candidates:
        await asyncio.to_thread(shutil.rmtree, candidate.artifact, True)
    async with database.sessions() as session:
        for candidate in plan.candidates:
            await finish_model(
                session,
                candidate.kind,
                candidate.version,
                status=ModelStatus.FAILED,
                trained_at=None,
                training_rows=None,
                metrics={},
                artifact_path=None,
                note=reason,
            )
        await session.commit()
    return [CandidateResult(c.kind, c.version, ModelStatus.FAILED, reason) for c in plan.candidates]


async def undo_promotion(
    database: Database, plan: Plan, promoted: Sequence[CandidateResult], reason: str
) -> None:
    """The bot could not load the promoted models: serve the previous ones again."""
    for result in promoted:
        await asyncio.to_thread(shutil.rmtree, artifact_of(plan, result.kind), True)
    async with database.sessions() as session:
        for result in promoted:
            previous = plan.active.get(result.kind)
            if previous is not None:
                await activate(session, result.kind, previous.version)
            await finish_model(
                session,
                result.kind,
                result.version,
                status=ModelStatus.FAILED,
                trained_at=None,
                training_rows=result.training_rows,
                metrics=dict(result.metrics),
                artifact_path=None,
                note=reason,
            )
        await session.commit()


def artifact_of(plan: Plan, kind: str) -> str:
    return next(c.artifact for c in plan.candidates if c.kind == kind)


async def prune(database: Database, keep: int) -> int:
    """Remove the files of all but the newest `keep` versions of each kind (never the
    active one's): their registry rows stay, with their numbers. Returns how many."""
    async with database.sessions() as session:
        records = await list_models(session)
        removed = 0
        for kind in {record.kind for record in records}:
            versions = sorted((r for r in records if r.kind == kind), key=lambda r: -r.version)
            for record in versions[keep:]:
                if record.status is ModelStatus.ACTIVE or not record.artifact_path:
                    continue
                await asyncio.to_thread(shutil.rmtree, record.artifact_path, True)
                await forget_artifact(
                    session,
                    kind,
                    record.version,
                    f"{record.note + '; ' if record.note else ''}files removed "
                    f"(the newest {keep} versions keep theirs)",
                )
                removed += 1
        await session.commit()
    return removed


# --- the run -------------------------------------------------------------------------------


def _ignore(_: Any) -> None:
    return None


async def run_training(
    settings: Settings,
    database: Database,
    kinds: str | Sequence[str],
    options: RunOptions | None = None,
    *,
    progress: Progress = _ignore,
    started: Started = _ignore,
    on_promoted: Promoted | None = None,
) -> RunOutcome:
    """Run one training (see the module docstring). Never raises for a failed run: the
    outcome says why. TrainingBusy when another run holds the lock."""
    options = options or RunOptions()
    chosen = parse_kinds(kinds)
    began = datetime.now(UTC)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(training_lock(settings))
        except TrainingError as exc:
            raise TrainingBusy(str(exc)) from None
        return await _locked_run(
            settings, database, chosen, options, began, progress, started, on_promoted
        )


async def _locked_run(
    settings: Settings,
    database: Database,
    kinds: tuple[str, ...],
    options: RunOptions,
    began: datetime,
    progress: Progress,
    started: Started,
    on_promoted: Promoted | None,
) -> RunOutcome:
    await clean_interrupted(database, settings)
    plan = await register_candidates(database, settings, kinds, options.seed)
    run_dir = runs_dir(settings) / f"run-{began.strftime('%Y%m%dT%H%M%S%f')}"
    results: list[CandidateResult] = []
    error = warning = None
    try:
        run_dir.mkdir(parents=True)
        (run_dir / PLAN).write_text(json.dumps(plan.to_json(), indent=2))
        progress("taking a snapshot of the feedback")
        await run_worker("snapshot", run_dir, settings, progress, started)
        await run_worker("train", run_dir, settings, progress, started)
        report = json.loads((run_dir / REPORT).read_text())
        progress("checking the new models and deciding")
        results = await conclude(database, plan, report, options.tolerance)
    except (RunFailed, OSError, ValueError, KeyError) as exc:
        error = str(exc) if isinstance(exc, RunFailed) else _shorten(f"{type(exc).__name__}: {exc}")
        results = await asyncio.shield(mark_failed(database, plan, error))
    except asyncio.CancelledError:
        await asyncio.shield(mark_failed(database, plan, "stopped: the bot shut down"))
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, run_dir, True)
    outcome = RunOutcome(kinds, began, datetime.now(UTC), tuple(results), error)
    if outcome.promoted and on_promoted is not None:
        try:
            await on_promoted(outcome)
        except Exception as exc:
            log.exception("promoted %s, but the bot could not load them", outcome.label)
            reason = _shorten(f"the bot could not load it: {exc}")
            await undo_promotion(database, plan, outcome.promoted, reason)
            results = [
                CandidateResult(r.kind, r.version, ModelStatus.FAILED, reason, r.metrics)
                if r.status is ModelStatus.ACTIVE
                else r
                for r in results
            ]
            warning = "the previous models serve again"
            outcome = RunOutcome(kinds, began, datetime.now(UTC), tuple(results), None, warning)
    try:
        await prune(database, options.keep_versions)
    except Exception:  # housekeeping must not turn a good run into a failed one
        log.exception("could not remove old model versions")
    return outcome


async def feedback_through(database: Database) -> int:
    """The newest feedback row the last finished run trained on (0 before any)."""
    async with database.sessions() as session:
        stored = await get_setting(session, THROUGH_KEY)
    return int(stored) if stored and stored.isdigit() else 0


async def plays_through(database: Database) -> int:
    """The newest play the last finished run trained on (0 before any)."""
    async with database.sessions() as session:
        stored = await get_setting(session, PLAYS_THROUGH_KEY)
    return int(stored) if stored and stored.isdigit() else 0
