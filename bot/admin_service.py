"""What the /admin commands do, without Discord: run training in a child process, gather the
bot's status, roll a model back, and keep the daily training time.

Training runs as `python -m bot train --model <kind> --json`, a child process with the bot's
data directory and database, so minutes of fitting never touch the event loop and a crash in
the models cannot take the bot down. One runs at a time; `earworm train` also holds a lock
per data directory, so a run started from a shell is refused rather than doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.errors import UserFacingError
from bot.settings import Settings
from bot.training import KINDS
from storage.database import Database
from storage.dto import CatalogStats
from storage.models import FeedbackKind
from storage.repositories.bot_settings import get_setting, set_setting
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

TRAIN_CHOICES = ("all", *KINDS)
TRAINING_TIME_KEY = "training_time"
DEFAULT_TRAINING_TIME = time(4, 0, tzinfo=UTC)
MAX_LISTED_MODELS = 25
# How much of a failure is shown: Discord embeds take 4096 characters, people read less.
MAX_ERROR = 900
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


# --- running `earworm train` -------------------------------------------------------------


class TrainingAlreadyRunning(Exception):
    def __init__(self, running: RunningTraining) -> None:
        super().__init__(f"a {running.model} training started at {running.started_at} is running")
        self.running = running


@dataclass(frozen=True, slots=True)
class RunningTraining:
    model: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class TrainedVersion:
    """One model a run registered as active, with its validation figures."""

    kind: str
    version: int
    training_rows: int | None
    metrics: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """How a run ended: the versions it made active, or the reason it failed (one line,
    e.g. `earworm train`'s refusal when there is too little feedback). `warning` says what
    went wrong after a successful run (the bot could not load the new models)."""

    model: str
    started_at: datetime
    finished_at: datetime
    trained: tuple[TrainedVersion, ...] = ()
    error: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def train_command(model: str) -> list[str]:
    return [sys.executable, "-m", "bot", "train", "--model", model, "--json", "--no-progress"]


def train_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the bot with its data directory and database spelled out, so the
    child trains on exactly the database the bot serves from (also when the bot's settings
    came from arguments rather than the environment)."""
    env = dict(os.environ if base is None else base)
    env["EARWORM_DATA_DIR"] = str(settings.data_dir.resolve())
    env["EARWORM_DATABASE_URL"] = settings.resolved_database_url
    env["EARWORM_LOG_LEVEL"] = settings.log_level
    return env


def failure_line(stderr: str, returncode: int) -> str:
    """Why `earworm train` failed: its `error:` line, else the last thing it printed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return _shorten(line.removeprefix("error:").strip())
    if lines:
        return _shorten(f"training stopped with exit status {returncode}: {lines[-1]}")
    return f"training stopped with exit status {returncode}"


def parse_trained(stdout: str) -> tuple[TrainedVersion, ...]:
    """The models `earworm train --json` registered."""
    return tuple(
        TrainedVersion(
            kind=str(item["kind"]),
            version=int(item["version"]),
            training_rows=item.get("training_rows"),
            metrics=item.get("metrics") or {},
        )
        for item in json.loads(stdout)
    )


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


async def run_training(settings: Settings, model: str) -> TrainingOutcome:
    """Run `earworm train --model <model>` and wait for it; never raises for a failed run.

    Cancelling (the bot shutting down) kills the child: `earworm train` registers nothing
    until every model is saved, so a killed run leaves the registry as it was."""
    if model not in TRAIN_CHOICES:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(TRAIN_CHOICES)}")
    started = datetime.now(UTC)
    try:
        process = await asyncio.create_subprocess_exec(
            *train_command(model),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=train_environment(settings),
        )
    except OSError as exc:
        return TrainingOutcome(model, started, datetime.now(UTC), error=f"cannot start: {exc}")
    try:
        stdout, stderr = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    finished = datetime.now(UTC)
    assert process.returncode is not None
    if process.returncode != 0:
        error = failure_line(stderr.decode(errors="replace"), process.returncode)
        return TrainingOutcome(model, started, finished, error=error)
    try:
        trained = parse_trained(stdout.decode(errors="replace"))
    except (ValueError, KeyError, TypeError) as exc:
        error = f"training finished but its summary was unreadable: {exc}"
        return TrainingOutcome(model, started, finished, error=_shorten(error))
    return TrainingOutcome(model, started, finished, trained=trained)


AfterSuccess = Callable[[TrainingOutcome], Awaitable[None]]


@dataclass(eq=False)
class TrainingRunner:
    """Runs one training at a time in the background; `start` refuses a second one.

    `after_success` runs once a run registered its models (the bot reloads its engine
    there); if it fails, the outcome keeps the success and says so in `warning`."""

    settings: Settings
    after_success: AfterSuccess | None = None
    current: RunningTraining | None = field(default=None, init=False)
    last: TrainingOutcome | None = field(default=None, init=False)
    _task: asyncio.Task[TrainingOutcome] | None = field(default=None, init=False, repr=False)

    def start(self, model: str) -> asyncio.Task[TrainingOutcome]:
        """Start a run now; TrainingAlreadyRunning while one runs. Await the task (shielded:
        an impatient caller must not cancel the training) for its outcome."""
        if self.current is not None:
            raise TrainingAlreadyRunning(self.current)
        if model not in TRAIN_CHOICES:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(TRAIN_CHOICES)}")
        # Set before anything awaits: two commands in the same moment cannot both start.
        self.current = RunningTraining(model, datetime.now(UTC))
        self._task = asyncio.create_task(self._run(model), name=f"earworm train {model}")
        return self._task

    async def _run(self, model: str) -> TrainingOutcome:
        try:
            outcome = await run_training(self.settings, model)
            if outcome.ok and self.after_success is not None:
                try:
                    await self.after_success(outcome)
                except Exception as exc:
                    log.exception("trained %s, but loading the new models failed", model)
                    outcome = replace(outcome, warning=f"the bot could not load them yet: {exc}")
            if outcome.ok:
                log.info("training %s finished: %s", model, describe_trained(outcome.trained))
            else:
                log.warning("training %s failed: %s", model, outcome.error)
            self.last = outcome
            return outcome
        finally:
            self.current = None

    async def close(self) -> None:
        """Stop a running training (its child process is killed)."""
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


def describe_trained(trained: Sequence[TrainedVersion]) -> str:
    parts = []
    for item in trained:
        figures = metric_text(item.metrics)
        parts.append(f"{item.kind} v{item.version}" + (f" ({figures})" if figures else ""))
    return ", ".join(parts) or "nothing"


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
        training_time=training_time,
        next_run=next_run,
        running=runner.current,
    )


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


async def rollback(database: Database, version: int, kind: str | None) -> Rollback:
    """Make an earlier registered version the active one of its kind.

    Without `kind`, the version number must belong to one kind only. Raises
    UserFacingError for an unknown version, one that cannot serve, or one whose saved
    model files are gone."""
    async with database.sessions() as session:
        if kind is None:
            kinds = sorted({r.kind for r in await list_models(session) if r.version == version})
            if not kinds:
                raise UserFacingError(
                    f"No model has version {version}. See the versions with `/admin models`."
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
                f"There is no {kind} version {version}. See the versions with `/admin models`."
            )
        target = candidates[0]
        if not await asyncio.to_thread(_artifact_exists, target):
            raise UserFacingError(
                f"{kind} v{version}'s saved model files are gone, so it cannot serve. "
                "Pick another version or run `/admin retrain`."
            )
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
