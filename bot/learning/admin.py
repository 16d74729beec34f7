"""What the /admin commands do, without Discord: run trainings one at a time, gather the
bot's status, roll a model back, and keep the daily training time.

A run (bot/learning/run.py) snapshots the feedback and trains in worker processes, so minutes of
fitting never touch the event loop and a crash in the models cannot take the bot down. One
runs at a time; the data directory's training lock also refuses a second run started from a
shell (`earworm train`) rather than doubling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.errors import UserFacingError
from bot.learning.run import (
    CandidateResult,
    Promoted,
    RunOptions,
    TrainingBusy,
    feedback_through,
    kinds_label,
    parse_kinds,
    plays_through,
    run_training,
    verify_artifact,
)
from bot.learning.run import RunOutcome as TrainingOutcome
from bot.learning.training import KINDS
from bot.settings import Settings
from storage.database import Database
from storage.dto import CatalogStats
from storage.models import FeedbackKind, ModelStatus
from storage.repositories.bot_settings import get_setting, set_setting
from storage.repositories.feedback import count_feedback_after
from storage.repositories.plays import count_plays_after
from storage.repositories.registry import (
    ModelNotActivatableError,
    ModelRecord,
    UnknownModelError,
    activate,
    active_model,
    list_models,
)
from storage.repositories.snapshots import feedback_rows
from storage.repositories.tracks import catalog_stats

log = logging.getLogger(__name__)

TRAINING_TIME_KEY = "training_time"
DEFAULT_TRAINING_TIME = time(4, 0, tzinfo=UTC)
MAX_LISTED_MODELS = 25
# How much of a failure is shown: Discord embeds take 4096 characters, people read less.
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


# --- running a training ----------------------------------------------------------------


@dataclass(slots=True)
class RunningTraining:
    """The run in progress: what it trains, since when, and its latest step."""

    model: str
    started_at: datetime
    progress: str = "starting"
    steps: int = 0  # progress lines so far
    pid: int | None = None  # the worker process now running


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """The nightly run found too little new feedback to be worth training."""

    at: datetime
    new_rows: int
    needed: int


@dataclass(eq=False)
class TrainingRunner:
    """Runs one training at a time in the background (bot/learning/run.py does the run).

    `start` while a run is going returns that run's task: a second request joins it.
    `after_promotion` runs once a run promoted models (the bot swaps its engine there)."""

    settings: Settings
    database: Database
    after_promotion: Promoted | None = None
    current: RunningTraining | None = field(default=None, init=False)
    last: TrainingOutcome | None = field(default=None, init=False)
    last_skip: SkippedRun | None = field(default=None, init=False)
    _task: asyncio.Task[TrainingOutcome] | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, model: str | Sequence[str] = "all") -> asyncio.Task[TrainingOutcome]:
        """Start a run now, or join the one running. Await the task (shielded: an impatient
        caller must not cancel the training) for its outcome. ValueError for unknown kinds."""
        if self._task is not None and not self._task.done():
            return self._task
        kinds = parse_kinds(model)
        label = kinds_label(kinds)
        # Set before anything awaits: two commands in the same moment cannot both start.
        self.current = RunningTraining(label, datetime.now(UTC))
        self._task = asyncio.create_task(self._run(kinds), name=f"earworm training {label}")
        return self._task

    def _progress(self, step: str) -> None:
        if self.current is not None:
            self.current.progress = step
            self.current.steps += 1

    def _started(self, pid: int) -> None:
        if self.current is not None:
            self.current.pid = pid

    async def _run(self, kinds: tuple[str, ...]) -> TrainingOutcome:
        began = datetime.now(UTC)
        options = RunOptions(
            tolerance=self.settings.promotion_tolerance,
            keep_versions=self.settings.keep_model_versions,
        )
        try:
            outcome = await run_training(
                self.settings,
                self.database,
                kinds,
                options,
                progress=self._progress,
                started=self._started,
                on_promoted=self.after_promotion,
            )
        except TrainingBusy as exc:
            outcome = TrainingOutcome(kinds, began, datetime.now(UTC), error=str(exc))
        except Exception as exc:  # a bug must not leave the runner stuck or the bot down
            log.exception("training %s crashed", "+".join(kinds))
            outcome = TrainingOutcome(
                kinds, began, datetime.now(UTC), error=f"training crashed: {exc}"
            )
        finally:
            self.current = None
        if outcome.ok:
            log.info("training %s finished: %s", outcome.label, describe_results(outcome.results))
        else:
            log.warning("training %s failed: %s", outcome.label, outcome.error)
        self.last = outcome
        return outcome

    async def new_feedback_rows(self) -> int:
        """Feedback rows and plays that arrived since the last finished run's snapshot
        (members who only import or play teach the models too)."""
        through = await feedback_through(self.database)
        played = await plays_through(self.database)
        async with self.database.sessions() as session:
            rows = await count_feedback_after(session, through)
            return rows + await count_plays_after(session, played)

    async def run_if_due(self) -> TrainingOutcome | SkippedRun | None:
        """The nightly run: trains everything unless a run is going (None) or fewer than
        `training_min_new_rows` feedback rows and plays arrived since the last run
        (SkippedRun)."""
        if self.running:
            log.info("nightly training skipped: a training is already running")
            return None
        new_rows = await self.new_feedback_rows()
        needed = self.settings.training_min_new_rows
        if new_rows < needed:
            self.last_skip = SkippedRun(datetime.now(UTC), new_rows, needed)
            log.info(
                "nightly training skipped: %d new feedback rows and plays, %d needed",
                new_rows,
                needed,
            )
            return self.last_skip
        return await asyncio.shield(self.start(self.settings.nightly_models))

    async def close(self) -> None:
        """Stop a running training (its worker process is killed, its models marked failed)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --- what /admin shows -------------------------------------------------------------------


def metric_text(metrics: Mapping[str, Any]) -> str:
    """The key validation figures: NDCG@10 and HR@10 when the run measured them."""
    parts = [
        f"{label} {metrics[name]:.3f}"
        for name, label in (("ndcg@10", "NDCG@10"), ("hr@10", "HR@10"))
        if isinstance(metrics.get(name), int | float) and not isinstance(metrics[name], bool)
    ]
    return " · ".join(parts)


def describe_results(results: Sequence[CandidateResult]) -> str:
    return (
        ", ".join(f"{r.kind} v{r.version} {r.status.value} ({r.reason})" for r in results)
        or "nothing"
    )


@dataclass(frozen=True, slots=True)
class FeedbackCounts:
    total: int
    by_kind: dict[str, int]  # kinds with feedback, in FeedbackKind order
    this_server: int | None  # None outside a server


@dataclass(frozen=True, slots=True)
class AdminStatus:
    catalog: CatalogStats
    feedback: FeedbackCounts
    active: dict[str, ModelRecord | None]  # every kind the bot trains
    last_model: ModelRecord | None  # the newest registry record
    last_outcome: TrainingOutcome | None  # the newest run this bot started
    last_skip: SkippedRun | None  # the newest nightly run skipped for want of feedback
    training_time: time
    next_run: datetime
    running: RunningTraining | None


async def feedback_counts(database: Database, guild_id: int | None) -> FeedbackCounts:
    async with database.sessions() as session:
        rows = await feedback_rows(session)

    # Counting is plain Python over every row: in a thread, so a big table never stalls
    # the event loop.
    def count() -> FeedbackCounts:
        here = sum(1 for guild in rows.guilds if guild == guild_id) if guild_id else None
        counts = Counter(rows.kinds)
        by_kind = {kind.value: counts[kind.value] for kind in FeedbackKind if counts[kind.value]}
        return FeedbackCounts(len(rows), by_kind, here)

    return await asyncio.to_thread(count)


async def gather_status(
    database: Database,
    runner: TrainingRunner,
    *,
    guild_id: int | None,
    training_time: time,
    next_run: datetime,
) -> AdminStatus:
    async with database.sessions() as session:
        catalog = await catalog_stats(session)
        active = {kind: await active_model(session, kind) for kind in KINDS}
        newest = await list_models(session)
    return AdminStatus(
        catalog=catalog,
        feedback=await feedback_counts(database, guild_id),
        active=active,
        last_model=newest[0] if newest else None,
        last_outcome=runner.last,
        last_skip=runner.last_skip,
        training_time=training_time,
        next_run=next_run,
        running=runner.current,
    )


async def active_signature(database: Database) -> tuple[tuple[str, int], ...]:
    """Which version of each kind is active: what the engine must serve."""
    async with database.sessions() as session:
        records = [await active_model(session, kind) for kind in KINDS]
    return tuple((r.kind, r.version) for r in records if r is not None)


async def registered_models(database: Database, kind: str | None) -> list[ModelRecord]:
    """The registry's versions, newest first, at most MAX_LISTED_MODELS."""
    async with database.sessions() as session:
        return (await list_models(session, kind))[:MAX_LISTED_MODELS]


@dataclass(frozen=True, slots=True)
class Rollback:
    kind: str
    previous: ModelRecord | None
    now_active: ModelRecord


def _artifact_exists(record: ModelRecord) -> bool:
    return record.artifact_path is not None and Path(record.artifact_path).is_dir()


@dataclass(frozen=True, slots=True)
class Hints:
    """How the person who asked lists versions and retrains: Discord or the shell."""

    models: str = "`/admin models`"
    retrain: str = "`/admin retrain`"


SHELL_HINTS = Hints(models="`earworm models list`", retrain="`earworm train`")


async def rollback(
    database: Database, version: int, kind: str | None, hints: Hints = Hints()
) -> Rollback:
    """Make an earlier registered version the active one of its kind.

    Without `kind`, the version number must belong to one kind only. Raises
    UserFacingError for an unknown version, one that cannot serve, or one whose saved
    model files are gone."""
    async with database.sessions() as session:
        if kind is None:
            kinds = sorted({r.kind for r in await list_models(session) if r.version == version})
            if not kinds:
                raise UserFacingError(
                    f"No model has version {version}. See the versions with {hints.models}."
                )
            if len(kinds) > 1:
                raise UserFacingError(
                    f"Version {version} exists for {', '.join(kinds)}: "
                    "say which with the `kind` option."
                )
            kind = kinds[0]
        candidates = [r for r in await list_models(session, kind) if r.version == version]
        if not candidates:
            raise UserFacingError(
                f"There is no {kind} version {version}. See the versions with {hints.models}."
            )
        target = candidates[0]
        if not await asyncio.to_thread(_artifact_exists, target):
            raise UserFacingError(
                f"{kind} v{version}'s saved model files are gone, so it cannot serve. "
                f"Pick another version or run {hints.retrain}."
            )
        if target.status is not ModelStatus.ACTIVE and target.artifact_path:
            try:  # never switch to files that cannot serve
                await asyncio.to_thread(verify_artifact, kind, target.artifact_path)
            except Exception as exc:
                raise UserFacingError(
                    f"{kind} v{version}'s saved model files are damaged ({str(exc)[:200]}), "
                    f"so it cannot serve. Pick another version or run {hints.retrain}."
                ) from None
        previous = await active_model(session, kind)
        try:
            now_active = await activate(session, kind, version)
        except ModelNotActivatableError as exc:
            raise UserFacingError(
                f"{kind} v{version} is {exc.status.value} and cannot serve. "
                "Pick a version that finished training."
            ) from None
        except UnknownModelError:  # removed between the two reads
            raise UserFacingError(f"There is no {kind} version {version}.") from None
        await session.commit()
    return Rollback(kind, previous, now_active)


# --- the daily training time -------------------------------------------------------------


def parse_training_time(text: str) -> time:
    """`HH:MM` (UTC) as a time; ValueError for anything else."""
    match = _HH_MM.fullmatch(text.strip())
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError(f"not a time of day as HH:MM: {text!r}")
    return time(hours, minutes, tzinfo=UTC)


def format_training_time(at: time) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def next_run_after(at: time, now: datetime) -> datetime:
    """The next moment the clock shows `at` (UTC) strictly after `now`."""
    today = datetime.combine(now.astimezone(UTC).date(), at.replace(tzinfo=None), tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


async def load_training_time(database: Database) -> time:
    """The stored daily training time, or 04:00 UTC when none (or an unreadable one) is."""
    async with database.sessions() as session:
        stored = await get_setting(session, TRAINING_TIME_KEY)
    if stored is None:
        return DEFAULT_TRAINING_TIME
    try:
        return parse_training_time(stored)
    except ValueError:
        log.warning("ignoring the stored training time %r; using the default", stored)
        return DEFAULT_TRAINING_TIME


async def save_training_time(database: Database, at: time) -> None:
    async with database.sessions() as session:
        await set_setting(session, TRAINING_TIME_KEY, format_training_time(at))
        await session.commit()
