"""What the bot measures about itself: how long each interaction took to handle, and how
late the event loop runs callbacks (its lag). The benchmarks read them; the HTTP metrics
endpoint will too.

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
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Samples kept per series: enough for stable p99s, bounded so memory never grows.
MAX_SAMPLES = 100_000


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
    """Durations per series (e.g. "command recommend", "autocomplete like"), newest kept."""

    def __init__(self) -> None:
        self._series: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=MAX_SAMPLES)
        )

    def record(self, series: str, seconds: float) -> None:
        self._series[series].append(seconds)

    def summary(self, series: str) -> Summary:
        return Summary.of(self._series.get(series, ()))

    def names(self) -> list[str]:
        return sorted(self._series)

    def clear(self) -> None:
        self._series.clear()


class LoopLagProbe:
    """Measures event-loop lag from a helper thread (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.005) -> None:
        self._loop = loop
        self._interval = interval
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
        self._lags.append(time.perf_counter() - posted)

    def __enter__(self) -> LoopLagProbe:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
