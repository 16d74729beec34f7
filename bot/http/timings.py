"""What the bot measures about itself: how long each interaction took to handle, and how
late the event loop runs callbacks (its lag). The benchmarks read the recent samples; the
HTTP server's /metrics (bot/http/metrics.py) exports cumulative Prometheus histograms of the
same measurements.

Lag is probed from a separate thread: every `interval` seconds it posts a callback to the
loop with `call_soon_threadsafe` and the callback records how late it ran against the time
it was due. A probe made of asyncio timers would be blind to exactly what it should catch
(and SimCord virtualises the bot's timers), while a thread-posted callback is late by
precisely the time the loop spent on other work. Lateness counts from the due time, not
from the moment the thread got to post: the thread needs the GIL to post, so a stall in
which another thread holds the GIL (a full garbage collection, a C extension that keeps
it) delays the post itself, and the loop, which needs the GIL as well, was stalled as long.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from prometheus_client import Histogram

# Samples kept per series: enough for stable p99s, bounded so memory never grows.
MAX_SAMPLES = 100_000
# Histogram buckets (seconds): interactions must answer within Discord's 3 s; lag is
# noticed by members from about 100 ms.
INTERACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The prefix of the series that time a stage of a command rather than an interaction.
STAGE = "stage "
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

    def to_json(self) -> dict[str, float]:
        """As every benchmark report writes it (milliseconds, to the microsecond)."""
        return {
            "count": self.count,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


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

    @contextmanager
    def span(self, series: str) -> Iterator[None]:
        """Record how long the block took (also when it raises): a stage of a command,
        named STAGE + what, e.g. "stage recommend-member", so the benchmarks can say where
        a request's time goes."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record(series, time.perf_counter() - started)

    def samples(self, prefix: str) -> list[float]:
        """The kept durations of every series whose name starts with `prefix`, pooled."""
        return [
            seconds
            for name, series in self._series.items()
            if name.startswith(prefix)
            for seconds in series
        ]

    def names(self, *, stages: bool = False) -> list[str]:
        """The series kept; the stages of commands ("stage ...", see `span`) only when
        asked for: most reports count interactions."""
        return sorted(name for name in self._series if stages or not name.startswith(STAGE))

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
        due = time.perf_counter() + self._interval
        while not self._stop.wait(max(0.0, due - time.perf_counter())):
            try:
                self._loop.call_soon_threadsafe(self._arrived, due)
            except RuntimeError:  # the loop closed
                return
            # After a stall, the next probe is due an interval from now: one late callback
            # reports the stall, not a burst of catch-up ones.
            due = max(due, time.perf_counter()) + self._interval

    def _arrived(self, due: float) -> None:
        lag = max(0.0, time.perf_counter() - due)
        self._lags.append(lag)
        if self._observe is not None:
            self._observe(lag)

    def __enter__(self) -> LoopLagProbe:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
