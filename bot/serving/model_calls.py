"""The bot-wide limit on model calls: at most EARWORM_MAX_MODEL_CALLS scoring at once.
Past that a request waits a moment for a slot, then the member is told the bot is busy
(`BusyError`, with when to retry) instead of piling up latency for everyone.

The calls run on a pool of EARWORM_SCORING_THREADS threads (one per core by default), not
asyncio's shared default pool: scoring is CPU work, and more threads than cores only take
turns at the GIL with the event loop, which then answers everyone later (measured in
docs/performance.md, "Serving at scale")."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.errors import BusyError

T = TypeVar("T")
# How long a request waits for a model-call slot before the member hears "busy".
MODEL_CALL_WAIT = 1.5
# Recent model calls whose durations estimate when a slot frees (for "try again in N s").
RECENT_CALLS = 50


class ModelCalls:
    """At most `limit` model calls in worker threads at once; a caller waits up to `wait`
    seconds for a slot, then gets BusyError. Without a bound a burst of commands queues on
    the thread pool and every member waits longer and longer."""

    def __init__(self, limit: int, wait: float = MODEL_CALL_WAIT, threads: int = 2) -> None:
        self.limit = limit
        self.wait = wait
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="earworm-model")
        self._slots = asyncio.Semaphore(limit)
        # Set inside `reserved`: this request already holds a slot (per task, per bot).
        self._reserved = contextvars.ContextVar(f"model-call-slot-{id(self)}", default=False)
        self._durations: deque[float] = deque(maxlen=RECENT_CALLS)
        self._waiting = 0
        self.running = 0  # calls holding a slot now
        self.queued = 0  # calls on the threads or waiting for one, slot or not
        self._idle = asyncio.Event()  # set while nothing is queued
        self._idle.set()
        self.refused = 0  # callers told the bot is busy (for metrics)

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` in a worker thread once a slot is free (at once inside `reserved`)."""
        holding = self._reserved.get()
        if not holding:
            await self._acquire()
        self.running += 1
        # perf_counter, not monotonic: the work is real time even under a virtual clock.
        started = time.perf_counter()
        try:
            return await self.work(call)
        finally:
            self._durations.append(time.perf_counter() - started)
            self.running -= 1
            if not holding:
                self._slots.release()

    async def work(self, call: Callable[[], T]) -> T:
        """`call()` on the model threads, without a slot: CPU work the bot does for itself
        (building a member's state, applying new feedback to the counts)."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        self.queued += 1
        self._idle.clear()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(context.run, call))
        finally:
            self.queued -= 1
            if not self.queued:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no call is on the threads or waiting for one (background work that
        should give way to members' requests waits for this)."""
        await self._idle.wait()

    def close(self) -> None:
        """Let the threads end once the calls in flight are done (at shutdown)."""
        self._pool.shutdown(wait=False)

    @contextlib.asynccontextmanager
    async def reserved(self) -> AsyncIterator[None]:
        """A slot taken now for the model calls this request makes inside the block.

        For a command about to say "thinking…" in public: BusyError comes here, while the
        member can still be answered privately, and once the slot is held the calls that
        follow never wait or hear "busy" (after a public "thinking…" that answer would be
        public too)."""
        await self._acquire()
        token = self._reserved.set(True)
        try:
            yield
        finally:
            self._reserved.reset(token)
            self._slots.release()

    async def _acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: taken at once, no timer
            return
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait)
        except TimeoutError:
            self.refused += 1
            raise BusyError(self.retry_after()) from None
        finally:
            self._waiting -= 1

    def retry_after(self) -> float:
        """Seconds until a slot is likely free: those waiting share the slots, and each
        round of `limit` calls takes about as long as the recent ones did."""
        typical = statistics.fmean(self._durations) if self._durations else 1.0
        return max(1.0, typical * (1 + self._waiting / self.limit))
