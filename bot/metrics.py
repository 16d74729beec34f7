"""What the bot measures about itself: how long each interaction took to handle, and how
late the event loop runs callbacks (its lag). The benchmarks read the recent samples; the
HTTP server's /metrics exports cumulative Prometheus histograms of the same measurements
and, at scrape time, the bot's state (`BotCollector`).

Lag is probed from a separate thread: every `interval` seconds it posts a callback to the
loop with `call_soon_threadsafe` and the callback records how long it waited to run. A
probe made of asyncio timers would be blind to exactly what it should catch (and SimCord
virtualises the bot's timers), while a thread-posted callback is late by precisely the time
the loop spent on other work.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
import numpy as np
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PrometheusCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.repositories.registry import list_models

if TYPE_CHECKING:
    from bot.app import EarwormBot

# Samples kept per series: enough for stable p99s, bounded so memory never grows.
MAX_SAMPLES = 100_000
# Histogram buckets (seconds): interactions must answer within Discord's 3 s; lag is
# noticed by members from about 100 ms.
INTERACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Summary:
        values = np.fromiter(seconds, dtype=float) * 1000.0
        if not len(values):
            return cls(0, float("nan"), float("nan"), float("nan"))
        p50, p99 = np.percentile(values, [50, 99])
        return cls(len(values), float(p50), float(p99), float(values.max()))


class Timings:
    """Durations per series (e.g. "command recommend", "autocomplete like"), newest kept.

    `histogram` counts every one since start-up, labelled by kind ("command",
    "autocomplete") and command name; it belongs to no registry until the HTTP server
    registers it in the bot's own (a process can hold many bots: tests, benchmarks)."""

    def __init__(self) -> None:
        self._series: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=MAX_SAMPLES)
        )
        self.histogram = Histogram(
            "earworm_interaction_duration_seconds",
            "Time to handle a slash command or autocomplete, by kind and command",
            ["kind", "command"],
            buckets=INTERACTION_BUCKETS,
            registry=None,
        )

    def record(self, series: str, seconds: float) -> None:
        self._series[series].append(seconds)
        kind, _, command = series.partition(" ")
        self.histogram.labels(kind, command or "?").observe(seconds)

    def summary(self, series: str) -> Summary:
        return Summary.of(self._series.get(series, ()))

    def samples(self, prefix: str) -> list[float]:
        """The kept durations of every series whose name starts with `prefix`, pooled."""
        return [
            seconds
            for name, series in self._series.items()
            if name.startswith(prefix)
            for seconds in series
        ]

    def names(self) -> list[str]:
        return sorted(self._series)

    def clear(self) -> None:
        """Forget the samples (benchmarks measure phase by phase); the histogram stays."""
        self._series.clear()


class LoopLagProbe:
    """Measures event-loop lag from a helper thread (see the module docstring); `observe`,
    when given, also gets each lag (on the loop), e.g. a Prometheus histogram's."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float = 0.005,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self._loop = loop
        self._interval = interval
        self._observe = observe
        self._lags: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loop-lag-probe", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def reset(self) -> None:
        self._lags.clear()

    def summary(self) -> Summary:
        return Summary.of(list(self._lags))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            posted = time.perf_counter()
            try:
                self._loop.call_soon_threadsafe(self._arrived, posted)
            except RuntimeError:  # the loop closed
                return

    def _arrived(self, posted: float) -> None:
        lag = time.perf_counter() - posted
        self._lags.append(lag)
        if self._observe is not None:
            self._observe(lag)

    def __enter__(self) -> LoopLagProbe:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class BotCollector(Collector):
    """The bot's state, read when Prometheus scrapes: feedback written by kind, the model
    versions serving, the training runs of this process, the model registry's versions by
    status, and the gateway. Cheap reads of what the bot holds anyway; the registry counts
    come from the database, so `refresh` (async) reads them just before a scrape."""

    def __init__(self, bot: EarwormBot) -> None:
        self._bot = bot
        self._registered: Counter[tuple[str, str]] = Counter()

    async def refresh(self) -> None:
        """Re-read the registry's model versions; keeps the last counts when it fails."""
        async with self._bot.database.sessions() as session:
            records = await list_models(session)
        self._registered = Counter((record.kind, record.status.value) for record in records)

    def collect(self) -> Iterator[Metric]:
        yield from self._feedback()
        yield from self._load()
        yield from self._models()
        yield from self._training()
        yield from self._gateway()

    def _feedback(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "earworm_feedback_events", "Feedback events written to the database", labels=["kind"]
        )
        for kind, count in sorted(self._bot.writer.written.items()):
            family.add_metric([kind], count)
        yield family

    def _load(self) -> Iterator[Metric]:
        """How close the bot is to its limits: model-call slots and the feedback queue."""
        calls = self._bot.engine.model_calls
        yield GaugeMetricFamily(
            "earworm_model_calls_running", "Model calls holding a slot now", value=calls.running
        )
        yield GaugeMetricFamily(
            "earworm_model_calls_limit", "EARWORM_MAX_MODEL_CALLS", value=calls.limit
        )
        yield CounterMetricFamily(
            "earworm_model_calls_refused",
            "Requests told the bot is busy (no model-call slot in time)",
            value=calls.refused,
        )
        yield GaugeMetricFamily(
            "earworm_feedback_queue_length",
            "Feedback operations waiting to be written",
            value=self._bot.writer.queued,
        )

    def _models(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "earworm_model_active_version",
            "The registry version of each collaborative model serving now",
            labels=["kind"],
        )
        serving = self._bot.engine.serving
        if serving is not None:
            for kind, version in sorted(serving.active.versions.items()):
                active.add_metric([kind], version)
        yield active
        yield GaugeMetricFamily(
            "earworm_serving_ready",
            "1 when a catalog and its models are loaded and serving, else 0",
            value=int(serving is not None),
        )
        registered = GaugeMetricFamily(
            "earworm_registered_models",
            "Model versions in the registry, by kind and status (active, rejected, failed, ...)",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(self._registered.items()):
            registered.add_metric([kind, status], count)
        yield registered

    def _training(self) -> Iterator[Metric]:
        runner = getattr(self._bot.get_cog("Admin"), "runner", None)
        running = bool(getattr(runner, "running", False))
        yield GaugeMetricFamily(
            "earworm_training_running", "1 while a training run is going", value=int(running)
        )
        last = getattr(runner, "last", None)
        if last is None:
            return
        seconds = (last.finished_at - last.started_at).total_seconds()
        gauges = (
            ("earworm_training_last_duration_seconds", "How long the last run took", seconds),
            ("earworm_training_last_success", "1: the last run finished; 0: it failed", last.ok),
            (
                "earworm_training_last_end_timestamp_seconds",
                "When the last run ended (Unix time)",
                last.finished_at.timestamp(),
            ),
            ("earworm_training_last_promoted_models", "Models it promoted", len(last.promoted)),
        )
        for name, help_text, value in gauges:
            family = GaugeMetricFamily(name, help_text, labels=["models"])
            family.add_metric([last.label], float(value))
            yield family

    def _gateway(self) -> Iterator[Metric]:
        bot = self._bot
        yield GaugeMetricFamily("earworm_guilds", "Servers the bot is in", value=len(bot.guilds))
        latency = GaugeMetricFamily(
            "earworm_gateway_latency_seconds",
            "Heartbeat latency per gateway shard",
            labels=["shard"],
        )
        for shard, seconds in _latencies(bot):
            latency.add_metric([str(shard)], seconds)
        yield latency


def _latencies(bot: discord.Client) -> list[tuple[int, float]]:
    if isinstance(bot, discord.AutoShardedClient):
        return list(bot.latencies)
    return [(0, bot.latency)] if bot.ws is not None else []


@dataclass(frozen=True, eq=False)
class ServerMetrics:
    """One bot's Prometheus registry (never the process-wide default: a process can run
    many bots) and the metrics the HTTP server updates itself."""

    registry: CollectorRegistry
    state: BotCollector
    loop_lag: Histogram
    requests: PrometheusCounter

    @classmethod
    def for_bot(cls, bot: EarwormBot) -> ServerMetrics:
        registry = CollectorRegistry()
        registry.register(bot.timings.histogram)
        state = BotCollector(bot)
        registry.register(state)
        loop_lag = Histogram(
            "earworm_event_loop_lag_seconds",
            "How late the event loop ran a callback posted to it (sampled)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        requests = PrometheusCounter(
            "earworm_http_requests",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            registry=registry,
        )
        return cls(registry, state, loop_lag, requests)
