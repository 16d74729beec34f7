"""`earworm bench training`: how the bot serves while it retrains on a million interactions,
and what the swap to the new models costs.

One run, on a scratch copy of the database (bot/bench/scratch.py) that holds the local catalog:

1. **Feedback**: `--rows` rows made the way `earworm bench models` makes its training sets
   (bot/bench/models.py `scale_rows`: Last.fm HetRec 2K's user_artists rows, then copies
   with renamed users and 5 % of rows swapped to another artist; 1M rows: about 20,400
   members). They are load for the trainer; realism is secondary. Mapped onto the catalog
   deterministically:
   - artist -> track by rank: the artist with the most members (ties by artist id) becomes
     the most popular catalog track (ties by track id), the second the second, and so on;
     with fewer tracks than artists the ranks wrap around (rank modulo tracks);
   - member -> Discord id by first appearance in the rows: the first `--members` are the
     simulated server's members, who drive the load (so `/recommend` serves them from
     their history, through ALS), the others get ids from `FIRST_MEMBER` up;
   - every row is a like from an import, at a seeded random time in the last 30 days (the
     training's holdout is the most recent feedback).
   A (member, track) pair that repeats (a swapped row landing on an artist the member
   already has, or wrapped ranks) is stored once, so slightly fewer rows may be stored than
   made; both are reported. Inserted in bulk (storage/repositories/feedback_import.py),
   oldest first, and timed.
2. **Seed**: the real bot (`create_bot`) starts under SimCord; the oldest rows are stored
   and the Admin cog's runner trains ALS on them, so an ACTIVE ALS model serves. Then the
   newest `--new-share` of the rows arrives: the feedback the measured run's candidates
   are compared on against the active model (without it nothing would be promoted, and
   nothing swapped in).
3. **Idle window** (`--idle-seconds`): an open-loop steady load, `--rate` interactions per
   second at seeded exponential gaps from `--members` members, 70 % `/recommend count:5`
   and 30 % track autocomplete. Measured inside the bot: the latency of each interaction
   (bot.timings, from the handler's start to its answer) and the event-loop lag
   (bot.http.timings.LoopLagProbe, a thread posting a callback every 5 ms).
4. **Training window**: the same load goes on while the Admin cog's runner trains
   `--kinds` (`runner.start`), from its start until the engine starts swapping in the new
   models (or until the run ends, when nothing is swapped in).
5. **Swap**: every `engine.reload()` is timed: wall time, the longest the event loop
   stalled meanwhile, and the process's peak resident memory (Linux's VmHWM after
   resetting it through /proc/self/clear_refs, else getrusage's lifetime peak, which
   cannot be reset; the report says which). The runner's reload after promotion runs
   under the load (what members saw during it is the "swap" window); then the load stops
   and one explicit `engine.reload()` gives a clean number.

Stalls are also timed from the loop itself (`Heartbeat`), and each stall of STALL_MS or
more is listed with the window and the training step running then.

Peak memory is the whole process's: the bot, SimCord and this benchmark, which holds
little once the rows are inserted (they are built and written in chunks).

The reload is timed by wrapping the engine's `reload` on the instance, the one place this
benchmark reaches into the bot; SimCord's settling is suspended while the load runs, as in
`earworm bench bot` (bot/bench/bot_load.py `in_flight_together`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np

from bot.bench.bot_load import FIRST_MEMBER, QUERIES, Phase, in_flight_together, phase_of
from bot.http.timings import LoopLagProbe, Summary
from bot.settings import Settings

RECOMMEND = "command recommend"
RECOMMEND_SHARE = 0.7
HISTORY_DAYS = 30
INSERT_CHUNK = 100_000
LOOP_LAG_P99_TARGET_MS = 10.0
RECOMMEND_P99_FACTOR = 2.0
MIB = 1024 * 1024
STALL_MS = 50.0  # event-loop stalls this long or longer are listed with what was going on
STALLS_SHOWN = 5
HEARTBEAT = "(heartbeat on the loop; the probe can miss GIL stalls)"

Say = Callable[[str], None]


class TrainingBenchError(Exception):
    """The benchmark cannot go on; the message says why in one line."""


@dataclass(frozen=True)
class BenchOptions:
    rows: int = 1_000_000
    idle_seconds: float = 60.0
    rate: float = 10.0
    members: int = 100
    kinds: tuple[str, ...] = ("als", "ncf")
    # The newest share of the rows arrives after the seed model: the feedback the measured
    # run's candidates are compared on (a run with no new feedback promotes nothing).
    new_share: float = 0.1
    seed: int = 0


# --- memory ------------------------------------------------------------------------------


def _status_mib(name: str) -> float | None:
    """A `VmRSS:`-style line of /proc/self/status, in MiB; None off Linux."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return None


def _rusage_peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def reset_peak_memory() -> str:
    """Start a new peak of resident memory; the measure that applies from here: "VmHWM"
    (reset) or "ru_maxrss" (the process's lifetime peak, when the reset is refused)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "ru_maxrss"
    return "VmHWM" if _status_mib("VmHWM") is not None else "ru_maxrss"


def peak_memory_mib(source: str) -> float:
    peak = _status_mib("VmHWM") if source == "VmHWM" else None
    return peak if peak is not None else _rusage_peak_mib()


def resident_mib() -> float | None:
    return _status_mib("VmRSS")


# --- the swap ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapFigures:
    """One `engine.reload()`: how long, how long the loop stalled, how much memory."""

    label: str
    seconds: float
    loop_lag: Summary  # from a LoopLagProbe running only during the reload
    rss_before_mib: float | None
    peak_mib: float
    memory_source: str
    started: float  # perf_counter times
    ended: float
    longest_stall_ms: float = float("nan")  # from the Heartbeat

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "seconds": round(self.seconds, 3),
            "loop_blocked_max_ms": _round(self.longest_stall_ms),
            "loop_lag_ms": asdict(self.loop_lag),
            "rss_before_mib": _round(self.rss_before_mib),
            "peak_rss_mib": _round(self.peak_mib),
            "peak_above_before_mib": _round(
                self.peak_mib - self.rss_before_mib if self.rss_before_mib is not None else None
            ),
            "memory_source": self.memory_source,
        }


@dataclass
class SwapWatch:
    """Times every reload of the engine it wraps. `label` names the next one; `on_start`
    and `on_end` (when set) run on the loop just before and after it."""

    engine: Any
    loop: asyncio.AbstractEventLoop
    label: str = "reload"
    swaps: list[SwapFigures] = field(default_factory=list)
    on_start: Callable[[], None] | None = None
    on_end: Callable[[], None] | None = None
    swapping: bool = False

    def install(self) -> None:
        original = self.engine.reload

        async def timed_reload(*args: Any, **kwargs: Any) -> Any:
            if self.on_start is not None:
                self.on_start()
            self.swapping = True
            source = reset_peak_memory()
            before = resident_mib()
            probe = LoopLagProbe(self.loop)
            probe.start()
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - started
                self.swapping = False
                probe.stop()
                self.swaps.append(
                    SwapFigures(
                        self.label,
                        seconds,
                        probe.summary(),
                        before,
                        peak_memory_mib(source),
                        source,
                        started,
                        started + seconds,
                    )
                )
                if self.on_end is not None:
                    self.on_end()

        # The instance attribute shadows the method: the Admin cog's runner looks
        # `engine.reload` up when it swaps, so it calls this.
        self.engine.reload = timed_reload

    def last(self, label: str) -> SwapFigures | None:
        found = [swap for swap in self.swaps if swap.label == label]
        return found[-1] if found else None


@dataclass(frozen=True)
class Stall:
    at_seconds: float  # since the log started
    lag_ms: float
    during: str  # the window, and the training step when one runs


class GcPauses:
    """Python's garbage collections, timed (gc.callbacks): a full collection walks every
    object the process holds and keeps the GIL, so the loop waits for it too."""

    def __init__(self) -> None:
        self._began = 0.0
        self.pauses: list[tuple[float, float, int]] = []  # (ended at, seconds, generation)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        elif now - self._began >= 0.001:
            self.pauses.append((now, now - self._began, info.get("generation", -1)))

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def within(self, start: float, stop: float) -> list[tuple[float, float, int]]:
        return [pause for pause in self.pauses if start <= pause[0] <= stop]


class Heartbeat:
    """The event loop's stalls seen from the loop itself: a task sleeps `interval` again
    and again, and how late each wake-up comes is how long the loop could not run it.
    Stalls of STALL_MS or more are kept with what was going on (`during`)."""

    def __init__(
        self, during: Callable[[], str], gc_pauses: GcPauses, interval: float = 0.005
    ) -> None:
        self._during = during
        self._gc = gc_pauses
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.started = time.perf_counter()
        self._times: list[float] = []
        self._lates: list[float] = []
        self.stalls: list[Stall] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def longest_ms(self, start: float, stop: float) -> float:
        """The longest stall overlapping `start`..`stop` (perf_counter times): NaN when no
        wake-up came then."""
        times, lates = np.asarray(self._times), np.asarray(self._lates)
        chosen = lates[(times >= start) & (times - lates - self._interval <= stop)]
        return float(chosen.max() * 1000) if len(chosen) else float("nan")

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self._interval)
            now = time.perf_counter()
            late = max(0.0, now - before - self._interval)
            self._times.append(now)
            self._lates.append(late)
            if late * 1000 >= STALL_MS:
                at = round(now - late - self.started, 3)
                collected = sum(pause[1] for pause in self._gc.within(now - late, now))
                during = self._during()
                if collected * 1000 >= 1:
                    during += f" [garbage collection {collected * 1000:,.0f} ms of it]"
                self.stalls.append(Stall(at, late * 1000, during))


# --- the feedback ------------------------------------------------------------------------


def rank_tracks(ids: Sequence[str], popularity: Sequence[int | None]) -> list[str]:
    """Track ids, most popular first (ties by id)."""
    return [track for _, track in sorted(zip((-(p or 0) for p in popularity), ids, strict=True))]


@dataclass(frozen=True)
class MappedRows:
    """The scaled rows as catalog feedback (module docstring), oldest first."""

    members: np.ndarray  # int64 Discord ids
    tracks: np.ndarray  # track ids
    seconds_ago: np.ndarray  # float64, how long before "now" each like was given

    def __len__(self) -> int:
        return len(self.tracks)

    def part(self, start: int, stop: int) -> MappedRows:
        return MappedRows(
            self.members[start:stop], self.tracks[start:stop], self.seconds_ago[start:stop]
        )


def map_rows(
    users: np.ndarray,
    artists: np.ndarray,
    tracks_by_rank: Sequence[str],
    load_members: Sequence[int],
    seed: int,
) -> MappedRows:
    """Last.fm-style (user, artist) rows as (member id, track id, age) rows, oldest first."""
    if not tracks_by_rank:
        raise TrainingBenchError("the catalog is empty; import one first")
    names, first_seen, user_index = np.unique(users, return_index=True, return_inverse=True)
    rank_of_user = np.empty(len(names), dtype=np.int64)
    rank_of_user[np.argsort(first_seen, kind="stable")] = np.arange(len(names))
    user_rank = rank_of_user[user_index]
    members = FIRST_MEMBER + user_rank
    for rank, member in enumerate(load_members):
        members[user_rank == rank] = member

    artist_ids, artist_index = np.unique(artists, return_inverse=True)
    pairs = np.unique(user_index.astype(np.int64) * len(artist_ids) + artist_index)
    listeners = np.bincount(pairs % len(artist_ids), minlength=len(artist_ids))
    # Most listeners first, ties by artist id (np.lexsort sorts by its last key first).
    order = np.lexsort((artist_ids, -listeners))
    rank_of_artist = np.empty(len(artist_ids), dtype=np.int64)
    rank_of_artist[order] = np.arange(len(artist_ids))
    ranked = np.asarray(tracks_by_rank, dtype=object)
    tracks = ranked[rank_of_artist[artist_index] % len(ranked)]

    seconds_ago = np.random.default_rng(seed).uniform(0, HISTORY_DAYS * 86_400, size=len(tracks))
    oldest_first = np.argsort(-seconds_ago, kind="stable")
    return MappedRows(
        members.astype(np.int64)[oldest_first], tracks[oldest_first], seconds_ago[oldest_first]
    )


async def make_rows(
    settings: Settings, options: BenchOptions, load_members: Sequence[int]
) -> MappedRows:
    """`options.rows` rows from Last.fm HetRec 2K, mapped onto the catalog."""
    from bot.bench.models import BenchError, load_lastfm_rows, scale_rows
    from bot.composition import database_for
    from storage.repositories.snapshots import catalog_rows

    try:
        scaled = scale_rows(load_lastfm_rows(settings.shared_data_dir), options.rows, options.seed)
    except BenchError as exc:
        raise TrainingBenchError(str(exc)) from None
    async with database_for(settings) as database, database.sessions() as session:
        catalog = await catalog_rows(session)
    return map_rows(
        scaled.users,
        scaled.items,
        rank_tracks(catalog.ids, catalog.popularity),
        load_members,
        options.seed,
    )


async def store_rows(settings: Settings, rows: MappedRows, now: datetime) -> tuple[int, float]:
    """Insert `rows` in chunks, one transaction; (rows new to the table, seconds)."""
    from bot.composition import database_for
    from storage.models import FeedbackKind, FeedbackSource
    from storage.repositories.feedback import FeedbackEvent
    from storage.repositories.feedback_import import import_feedback

    stored = 0
    async with database_for(settings) as database, database.sessions() as session:
        started = time.perf_counter()
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows.part(start, start + INSERT_CHUNK)
            events = [
                FeedbackEvent(
                    user_id=int(member),
                    guild_id=None,
                    track_id=str(track),
                    kind=FeedbackKind.LIKE,
                    source=FeedbackSource.IMPORT,
                    created_at=now - timedelta(seconds=float(age)),
                )
                for member, track, age in zip(
                    chunk.members, chunk.tracks, chunk.seconds_ago, strict=True
                )
            ]
            stored += await import_feedback(session, events)
        await session.commit()
        return stored, time.perf_counter() - started


@dataclass
class FeedbackFigures:
    rows_made: int
    members: int
    tracks: int
    rows_before_seed: int = 0
    rows_after_seed: int = 0
    seconds: float = 0.0

    @property
    def rows_stored(self) -> int:
        return self.rows_before_seed + self.rows_after_seed

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_made": self.rows_made,
            "rows_stored": self.rows_stored,
            "rows_before_seed": self.rows_before_seed,
            "rows_after_seed": self.rows_after_seed,
            "members": self.members,
            "tracks": self.tracks,
            "insert_seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_stored / self.seconds) if self.seconds else None,
        }


# --- the load ----------------------------------------------------------------------------


@dataclass
class SteadyLoad:
    """Open-loop arrivals (module docstring) until `stop` is set; counts what it emitted."""

    channel: Any
    actors: Sequence[Any]
    rate: float
    rng: random.Random
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    emitted: int = 0

    async def run(self) -> None:
        started = time.perf_counter()
        due = 0.0
        while not self.stop.is_set():
            await self._act(self.rng.choice(self.actors))
            self.emitted += 1
            due += self.rng.expovariate(self.rate)
            delay = started + due - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)

    async def _act(self, actor: Any) -> None:
        if self.rng.random() < RECOMMEND_SHARE:
            await actor.slash(self.channel, "recommend", count=5)
        else:
            query = self.rng.choice(QUERIES)[: self.rng.randint(2, 5)]
            await actor.autocomplete(self.channel, "similar", "track", query)


@dataclass(frozen=True)
class Window:
    """What the bot measured about itself over one stretch of the load."""

    name: str
    started: float  # perf_counter times
    ended: float
    phase: Phase
    longest_stall_ms: float = float("nan")  # from the Heartbeat

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def recommend(self) -> Summary:
        return self.phase.latency.get(RECOMMEND, Summary.of(()))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            **self.phase.to_json(),
            "longest_stall_ms": _round(self.longest_stall_ms),
        }


@dataclass
class WindowClock:
    """Cuts the load into windows: each `cut` takes what the bot measured since the
    previous one (and resets it)."""

    bot: Any
    probe: LoopLagProbe
    started: float = field(default_factory=time.perf_counter)
    windows: dict[str, Window] = field(default_factory=dict)

    def cut(self, name: str) -> None:
        now = time.perf_counter()
        self.windows[name] = Window(name, self.started, now, phase_of(self.bot, self.probe))
        self.started = now


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFigures:
    """One run through the Admin cog's runner: how long, and how it ended."""

    kinds: tuple[str, ...]
    seconds: float
    ok: bool
    error: str | None
    results: list[dict[str, Any]]  # per candidate: kind, version, status, reason

    @property
    def promoted(self) -> list[str]:
        return [r["kind"] for r in self.results if r["status"] == "active"]

    def describe(self) -> str:
        if not self.ok:
            return f"failed: {self.error}"
        return "; ".join(
            f"{r['kind']} v{r['version']} {r['status']} ({r['reason']})" for r in self.results
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "error": self.error,
            "results": self.results,
        }


@dataclass
class TrainingBenchReport:
    options: BenchOptions
    feedback: FeedbackFigures
    seed_training: TrainingFigures
    windows: dict[str, Window]
    training: TrainingFigures
    swaps: list[SwapFigures]
    requests_emitted: int
    stalls: list[Stall]
    gc_pauses: list[tuple[float, int]]  # (seconds, generation), each of 1 ms or more
    load_average: tuple[tuple[float, float, float], tuple[float, float, float]]

    @property
    def swap_in_run(self) -> SwapFigures | None:
        return next((s for s in self.swaps if s.label == "after training"), None)

    @property
    def swap_explicit(self) -> SwapFigures | None:
        return next((s for s in self.swaps if s.label == "explicit"), None)

    def targets(self) -> list[dict[str, Any]]:
        """The issue's targets, measured in the training window, each with its verdict."""
        idle, training = self.windows.get("idle"), self.windows.get("training")
        if idle is None or training is None:
            return []
        lag = training.phase.loop_lag.p99_ms
        limit = RECOMMEND_P99_FACTOR * idle.recommend.p99_ms
        return [
            {
                "key": "loop lag",
                "target": f"event-loop lag p99 < {LOOP_LAG_P99_TARGET_MS:g} ms while training",
                "measured_ms": _round(lag),
                "limit_ms": LOOP_LAG_P99_TARGET_MS,
                "met": bool(lag < LOOP_LAG_P99_TARGET_MS),
            },
            {
                "key": "recommend",
                "target": f"/recommend p99 while training < {RECOMMEND_P99_FACTOR:g}x idle",
                "measured_ms": _round(training.recommend.p99_ms),
                "limit_ms": _round(limit),
                "met": bool(training.recommend.p99_ms < limit),
            },
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "options": {**asdict(self.options), "kinds": list(self.options.kinds)},
            "feedback": self.feedback.to_json(),
            "seed_training": self.seed_training.to_json(),
            "windows": {name: window.to_json() for name, window in self.windows.items()},
            "requests_emitted": self.requests_emitted,
            "training": self.training.to_json(),
            "swap_in_run": self.swap_in_run.to_json() if self.swap_in_run else None,
            "swap_explicit": self.swap_explicit.to_json() if self.swap_explicit else None,
            "swaps": [swap.to_json() for swap in self.swaps],
            "targets": self.targets(),
            # Every stall of STALL_MS or more, in order (see StallLog).
            "stalls": [
                {"at_seconds": s.at_seconds, "lag_ms": round(s.lag_ms, 1), "during": s.during}
                for s in self.stalls
            ],
            "gc_pauses": {
                "count": len(self.gc_pauses),
                "longest_ms": _round(max((p[0] for p in self.gc_pauses), default=0) * 1000),
                "total_ms": _round(sum(p[0] for p in self.gc_pauses) * 1000),
            },
            "load_average": {"start": self.load_average[0], "end": self.load_average[1]},
        }


async def _train(bot: Any, kinds: tuple[str, ...]) -> TrainingFigures:
    """One run through the Admin cog's runner (what `/admin retrain` starts), awaited."""
    runner = bot.get_cog("Admin").runner
    started = time.perf_counter()
    try:
        task = runner.start(kinds)
    except ValueError as exc:
        raise TrainingBenchError(f"the training runner refused {','.join(kinds)}: {exc}") from None
    outcome = await asyncio.shield(task)
    return TrainingFigures(
        kinds=kinds,
        seconds=time.perf_counter() - started,
        ok=outcome.ok,
        error=outcome.error,
        results=[
            {
                "kind": result.kind,
                "version": result.version,
                "status": result.status.value,
                "reason": result.reason,
            }
            for result in outcome.results
        ],
    )


async def run_training_bench(
    settings: Settings, options: BenchOptions, say: Say
) -> TrainingBenchReport:
    """Everything in the module docstring, on `settings` (a scratch copy)."""
    import os

    from simcord import Env

    from bot.app import create_bot

    load_at_start = os.getloadavg()
    rng = random.Random(options.seed)
    # A few simulated members send commands at a steady rate: per-member cooldowns would
    # refuse most of them (`earworm bench load` checks cooldowns; this measures serving).
    bot = create_bot(settings.model_copy(update={"cooldown_seconds": 0.0}))
    env = Env(bot, settle_timeout=600)
    await env.start()
    try:
        guild = env.create_guild("Benchmark")
        channel = guild.create_text_channel("music")
        actors = [
            guild.add_member(env.create_user(f"member{number}"))
            for number in range(options.members)
        ]
        say(f"making {options.rows:,} feedback rows from Last.fm HetRec 2K ...")
        rows = await make_rows(settings, options, [actor.id for actor in actors])
        feedback = FeedbackFigures(
            rows_made=len(rows), members=len(np.unique(rows.members)), tracks=len(set(rows.tracks))
        )
        now = datetime.now(UTC)
        split = len(rows) - round(len(rows) * options.new_share)
        say(f"inserting the oldest {split:,} rows ...")
        feedback.rows_before_seed, seconds = await store_rows(settings, rows.part(0, split), now)
        feedback.seconds += seconds

        loop = asyncio.get_running_loop()
        watch = SwapWatch(bot.engine, loop)
        watch.install()
        runner = bot.get_cog("Admin").runner
        window = "seed"

        def during() -> str:
            where = f"reload ({watch.label})" if watch.swapping else window
            step = getattr(runner.current, "progress", None)
            return f"{where}: {step}" if step else where

        def swap_starts() -> None:
            clock.cut("training")

        def swap_ends() -> None:
            nonlocal window
            clock.cut("swap")
            window = "after the swap"

        gc_pauses = GcPauses()
        gc_pauses.start()
        heartbeat = Heartbeat(during, gc_pauses)
        heartbeat.start()
        say("training ALS on them so an active model serves (seed) ...")
        watch.label = "seed"
        seed = await _train(bot, ("als",))
        if "als" not in seed.promoted:
            raise TrainingBenchError(f"the seed ALS training did not activate: {seed.describe()}")
        say(f"inserting the newest {len(rows) - split:,} rows (new since the seed) ...")
        feedback.rows_after_seed, seconds = await store_rows(
            settings, rows.part(split, len(rows)), now
        )
        feedback.seconds += seconds
        del rows

        window = "warm-up"
        say("warming up ...")
        for actor in actors[:3]:
            await actor.slash(channel, "recommend", count=5)
        await actors[0].autocomplete(channel, "similar", "track", "love")
        bot.timings.clear()

        probe = LoopLagProbe(loop)
        probe.start()
        clock = WindowClock(bot, probe)
        load = SteadyLoad(channel, actors, options.rate, rng)
        try:
            async with in_flight_together(env):
                load_task = asyncio.create_task(load.run())
                say(f"idle: {options.rate:g}/s from {options.members} members ...")
                clock.started = time.perf_counter()
                window = "idle"
                await asyncio.sleep(options.idle_seconds)
                clock.cut("idle")
                window = "training"
                say(f"training {','.join(options.kinds)} under the same load ...")
                watch.label = "after training"
                watch.on_start, watch.on_end = swap_starts, swap_ends
                training = await _train(bot, options.kinds)
                watch.on_start = watch.on_end = None
                if "training" not in clock.windows:  # nothing was swapped in
                    clock.cut("training")
                window = "after the run"
                load.stop.set()
                await load_task
        finally:
            probe.stop()
        say("one explicit engine reload, without load ...")
        watch.label = "explicit"
        window = "explicit reload"
        await bot.engine.reload()
        await heartbeat.stop()
        gc_pauses.stop()
        return TrainingBenchReport(
            options=options,
            feedback=feedback,
            seed_training=seed,
            windows={
                name: replace(w, longest_stall_ms=heartbeat.longest_ms(w.started, w.ended))
                for name, w in clock.windows.items()
            },
            training=training,
            swaps=[
                replace(s, longest_stall_ms=heartbeat.longest_ms(s.started, s.ended))
                for s in watch.swaps
            ],
            requests_emitted=load.emitted,
            stalls=heartbeat.stalls,
            gc_pauses=[(seconds, generation) for _, seconds, generation in gc_pauses.pauses],
            load_average=(load_at_start, os.getloadavg()),
        )
    finally:
        await env.shutdown()


# --- the table ---------------------------------------------------------------------------


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or value != value:  # NaN: nothing measured
        return None
    return round(float(value), digits)


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:,.1f}"


def _swap_line(title: str, swap: SwapFigures | None) -> str:
    if swap is None:
        return f"{title}: not observed"
    before = "?" if swap.rss_before_mib is None else f"{swap.rss_before_mib:,.0f}"
    return (
        f"{title}: {swap.seconds:.2f} s; event loop blocked up to "
        f"{_ms(swap.longest_stall_ms)} ms at once (probe: lag p99 {_ms(swap.loop_lag.p99_ms)}, "
        f"max {_ms(swap.loop_lag.max_ms)} ms); resident memory {before} MiB before, peak "
        f"{swap.peak_mib:,.0f} MiB ({swap.memory_source})"
    )


def _row(label: str, cells: Sequence[str], note: str = "") -> str:
    return (
        f"{label:<26}" + "".join(f"{cell:>11}" for cell in cells) + (f"   {note}" if note else "")
    )


def format_report(report: TrainingBenchReport) -> list[str]:
    options, feedback, seed = report.options, report.feedback, report.seed_training
    lines = [
        f"feedback: {feedback.rows_stored:,} rows stored of {feedback.rows_made:,} made "
        f"({feedback.members:,} members, {feedback.tracks:,} tracks), inserted in "
        f"{feedback.seconds:.1f} s; {feedback.rows_after_seed:,} of them after the seed model",
        f"seed: ALS through the runner in {seed.seconds:.1f} s: {seed.describe()}",
        f"load: {options.rate:g} interactions/s from {options.members} members "
        f"({RECOMMEND_SHARE:.0%} /recommend, the rest autocomplete), open loop, "
        f"{report.requests_emitted:,} in all",
        "",
    ]
    names = [name for name in ("idle", "training", "swap") if name in report.windows]
    windows = [report.windows[name] for name in names]
    verdicts = {v["key"]: v for v in report.targets()}

    def note(key: str) -> str:
        verdict = verdicts.get(key)
        if verdict is None:
            return ""
        met = "met" if verdict["met"] else "NOT MET"
        return f"target (training) < {_ms(verdict['limit_ms'] or float('nan'))} ms: {met}"

    lines.append(_row("", names))
    lines.append(_row("window s", [f"{w.seconds:.1f}" for w in windows]))
    for name in sorted({series for w in windows for series in w.phase.latency}):
        stats = [w.phase.latency.get(name, Summary.of(())) for w in windows]
        label = "/recommend" if name == RECOMMEND else name
        lines.append(_row(f"{label} n", [f"{s.count:,}" for s in stats]))
        lines.append(_row(f"{label} p50 ms", [_ms(s.p50_ms) for s in stats]))
        lines.append(
            _row(
                f"{label} p99 ms",
                [_ms(s.p99_ms) for s in stats],
                note("recommend") + " (2x idle)" if name == RECOMMEND else "",
            )
        )
    lags = [w.phase.loop_lag for w in windows]
    lines.append(_row("loop lag p99 ms", [_ms(s.p99_ms) for s in lags], note("loop lag")))
    lines.append(_row("loop lag max ms", [_ms(s.max_ms) for s in lags]))
    lines.append(_row("longest stall ms", [_ms(w.longest_stall_ms) for w in windows], HEARTBEAT))
    lines.append("")
    training = report.training
    lines.append(
        f"training {'+'.join(training.kinds)} {'ended' if training.ok else 'FAILED'} after "
        f"{training.seconds:.1f} s: {training.describe()}"
    )
    lines.append(_swap_line("swap after training (under load)", report.swap_in_run))
    lines.append(_swap_line("explicit engine.reload() (no load)", report.swap_explicit))
    if report.stalls:
        lines.append(
            f"longest event-loop stalls ({len(report.stalls)} of {STALL_MS:g} ms or more):"
        )
        for stall in sorted(report.stalls, key=lambda stall: -stall.lag_ms)[:STALLS_SHOWN]:
            lines.append(f"  {stall.lag_ms:8,.0f} ms at {stall.at_seconds:7.1f} s  {stall.during}")
    if report.gc_pauses:
        longest = max(seconds for seconds, _ in report.gc_pauses)
        total = sum(seconds for seconds, _ in report.gc_pauses)
        lines.append(
            f"garbage collections of 1 ms or more: {len(report.gc_pauses)}, longest "
            f"{longest * 1000:,.0f} ms, {total:.1f} s in all"
        )
    start, end = report.load_average
    lines.append(
        f"machine load average {'/'.join(f'{v:.1f}' for v in start)} at the start, "
        f"{'/'.join(f'{v:.1f}' for v in end)} at the end"
    )
    return lines


def print_report(report: TrainingBenchReport) -> None:
    for line in format_report(report):
        click.echo(line)
