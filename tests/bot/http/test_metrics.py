"""Timing summaries and the event-loop lag probe (it must see a blocked loop)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from bot.http.timings import LoopLagProbe, Summary, Timings


def test_summary_percentiles() -> None:
    summary = Summary.of([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert summary.count == 100
    assert math.isclose(summary.p50_ms, 50.5)
    assert math.isclose(summary.max_ms, 100.0)
    assert 99.0 <= summary.p99_ms <= 100.0
    assert Summary.of([]).count == 0


def test_timings_keep_series_apart() -> None:
    timings = Timings()
    timings.record("command recommend", 0.010)
    timings.record("autocomplete like", 0.002)
    assert timings.names() == ["autocomplete like", "command recommend"]
    assert math.isclose(timings.summary("command recommend").max_ms, 10.0)
    assert timings.summary("command similar").count == 0


def test_a_span_times_a_stage_even_when_it_fails_and_stays_out_of_the_interactions() -> None:
    timings = Timings()
    timings.record("command recommend", 0.010)
    with timings.span("stage card-details"):
        time.sleep(0.01)
    try:
        with timings.span("stage recommend-member"):
            raise ValueError("a database error")
    except ValueError:
        pass
    assert timings.names() == ["command recommend"]
    assert timings.names(stages=True) == [
        "command recommend",
        "stage card-details",
        "stage recommend-member",
    ]
    assert timings.summary("stage card-details").max_ms >= 10.0
    assert timings.summary("stage recommend-member").count == 1


async def test_the_probe_sees_a_blocked_loop() -> None:
    with LoopLagProbe(asyncio.get_running_loop(), interval=0.002) as probe:
        await asyncio.sleep(0.05)
        idle = probe.summary()
        probe.reset()
        time.sleep(0.08)  # noqa: ASYNC251 - the point: block the loop
        await asyncio.sleep(0.02)
        blocked = probe.summary()
    assert idle.count > 5
    assert blocked.max_ms >= 50.0
    assert blocked.max_ms > idle.max_ms


async def test_the_probe_sees_another_thread_keeping_the_gil() -> None:
    """A full garbage collection or a C extension that keeps the GIL stalls the loop
    without blocking it: the probe's thread cannot post meanwhile, so lateness counts from
    when the callback was due, not from when the thread got to post it."""
    values = [float((i * 7919) % 1_000_003) for i in range(1_000_000)]

    def timed_sort() -> float:
        started = time.perf_counter()
        sorted(values)
        return time.perf_counter() - started

    with LoopLagProbe(asyncio.get_running_loop(), interval=0.002) as probe:
        await asyncio.sleep(0.05)
        probe.reset()
        # One C call in a worker thread that keeps the GIL throughout, then nothing. The
        # stall is compared with that very call's time: a sort timed beforehand can take
        # twice as long or half on a shared machine.
        took = await asyncio.to_thread(timed_sort)
        await asyncio.sleep(0.02)
        stalled = probe.summary()
    if took < 0.05:
        pytest.skip(f"a sort took {took * 1000:.0f} ms here: too short a stall to see")
    assert stalled.max_ms >= 0.5 * took * 1000
