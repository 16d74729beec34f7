"""The bot's Prometheus metrics: one registry per bot with the interactions' histograms and
the loop lag (bot/http/timings.py measures them) and, at scrape time, the bot's state
(`BotCollector`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import discord
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PrometheusCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.http.timings import LAG_BUCKETS
from storage.repositories.registry import list_models

if TYPE_CHECKING:
    from bot.http.served import ServedBot


class BotCollector(Collector):
    """The bot's state, read when Prometheus scrapes: feedback written by kind, the model
    versions serving, the training runs of this process, the model registry's versions by
    status, and the gateway. Cheap reads of what the bot holds anyway; the registry counts
    come from the database, so `refresh` (async) reads them just before a scrape."""

    def __init__(self, bot: ServedBot) -> None:
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
        for shard, seconds in _latencies(cast("discord.Client", bot)):
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
    def for_bot(cls, bot: ServedBot) -> ServerMetrics:
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
