"""One writer for feedback: every reaction, button press and rating goes through a queue
that a single task drains in batches, one transaction per batch.

Why: SQLite has one write lock. Reactions arrive in bursts (a card can collect dozens at
once); one transaction each, from concurrent handlers, made them queue on the lock (SQLite's
busy handler sleeps in steps of up to 100 ms) and a transaction that had read before writing
failed outright with "database is locked" — feedback lost. A single writer has no one to
contend with, and a burst of N events costs one commit instead of N. PostgreSQL gains the
same batching.

Order is kept (one FIFO queue, one writer): a reaction added then removed is stored, then
deleted. Each caller awaits its own result (e.g. whether the like was new). If a batch fails,
it is rolled back and its operations are retried one transaction each, so one bad event
(say, a track deleted from the catalog meanwhile) fails alone. `close()` writes everything
queued before it returns.

The queue is bounded (EARWORM_FEEDBACK_QUEUE_SIZE): when the database falls behind, callers
wait for room (backpressure) up to `full_wait` seconds, then get WriterBusyError, which the
member sees as "try again in a moment", rather than memory growing without end.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import WriterBusyError
from storage.database import Database
from storage.models import FeedbackKind
from storage.repositories.changes import FeedbackChange, watch_changes
from storage.repositories.feedback import FeedbackEvent, record_feedback, record_feedback_many

log = logging.getLogger(__name__)
T = TypeVar("T")
Operation = Callable[[AsyncSession], Awaitable[T]]
# Most operations one transaction carries: bounds how long one commit holds the lock.
MAX_BATCH = 500
# Most operations waiting to be written (EARWORM_FEEDBACK_QUEUE_SIZE's default).
MAX_QUEUE = 10_000
# How long a caller waits for room in a full queue before being told to retry.
FULL_QUEUE_WAIT = 5.0


class WriterClosedError(RuntimeError):
    """The bot is shutting down and takes no more writes."""


@dataclass(eq=False)
class _Job(Generic[T]):
    operation: Operation[T]
    done: asyncio.Future[T]
    # Set for a plain like/love/dislike/skip: consecutive ones are stored together.
    event: FeedbackEvent | None = None


class FeedbackWriter:
    """The writer task runs only while there is something to write (it drains the queue
    and ends), so an idle bot has no task parked on the queue.

    `on_changes`, when given, hears every feedback row each committed transaction added or
    removed (storage.repositories.changes): what keeps listener counts and charts up to date
    from new rows only. Urgent jobs (a card's picks, which reactions on it need) go before
    queued reactions."""

    def __init__(
        self,
        database: Database,
        *,
        max_batch: int = MAX_BATCH,
        max_queue: int = MAX_QUEUE,
        full_wait: float = FULL_QUEUE_WAIT,
        on_changes: Callable[[list[FeedbackChange]], None] | None = None,
    ) -> None:
        self._database = database
        self._max_batch = max_batch
        self._full_wait = full_wait
        self.on_changes = on_changes
        self._urgent: deque[_Job[Any]] = deque()
        self._queue: asyncio.Queue[_Job[Any]] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # transactions committed (for tests and benchmarks)
        # Feedback events written, by kind ("like", "rating", ...): the /metrics counters.
        self.written: Counter[str] = Counter()

    async def run(self, operation: Operation[T]) -> T:
        """Queue `operation` (given a session inside the batch's transaction; it must not
        commit) and wait for its result once the batch is committed."""
        if self._closed:
            raise WriterClosedError("the bot is shutting down; try again in a moment")
        return await self._submit(_Job(operation, asyncio.get_running_loop().create_future()))

    def enqueue_urgent(self, operation: Operation[T]) -> asyncio.Future[T]:
        """Queue `operation` for the next batch, before queued events, at once (no wait for
        room: urgent jobs are few, one per card); its result once committed. Queued before
        this returns, so `close()` writes it even when nobody awaits it."""
        if self._closed:
            raise WriterClosedError("the bot is shutting down; try again in a moment")
        job = _Job(operation, asyncio.get_running_loop().create_future())
        self._urgent.append(job)
        self._start_draining()
        return job.done

    @property
    def queued(self) -> int:
        """Operations waiting to be written."""
        return self._queue.qsize() + len(self._urgent)

    async def _submit(self, job: _Job[T]) -> T:
        if self._queue.full():
            self._start_draining()  # a full queue always has a writer; be sure of it
            try:
                await asyncio.wait_for(self._queue.put(job), self._full_wait)
            except TimeoutError:
                log.warning(
                    "the feedback queue stayed full (%d) for %.1f s; asking to retry",
                    self._queue.maxsize,
                    self._full_wait,
                )
                raise WriterBusyError() from None
        else:
            self._queue.put_nowait(job)
        # After the put: a writer that drained the queue while we waited has ended.
        self._start_draining()
        return await job.done

    def _start_draining(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name="feedback-writer"
            )

    async def record(self, event: FeedbackEvent) -> bool:
        """Store one opinion; whether it was new. Consecutive likes, loves, dislikes and
        skips in a batch are written with a few statements for all of them."""
        if self._closed:
            raise WriterClosedError("the bot is shutting down; try again in a moment")
        bulk = event.kind != FeedbackKind.RATING
        job: _Job[bool] = _Job(
            lambda session: record_feedback(session, event),
            asyncio.get_running_loop().create_future(),
            event if bulk else None,
        )
        result = await self._submit(job)
        self.written[str(event.kind.value)] += 1
        return result

    async def close(self) -> None:
        """Take no more writes; return once everything queued is written."""
        self._closed = True
        # A loop: callers that were waiting for room put their jobs in (and may start a
        # new writer task) after the current task drained what was there.
        while self._task is not None:
            await self._task

    async def _drain(self) -> None:
        try:
            while self._urgent or not self._queue.empty():
                batch: list[_Job[Any]] = []
                while self._urgent and len(batch) < self._max_batch:
                    batch.append(self._urgent.popleft())
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._write(batch)
        finally:
            # No await between the last emptiness check and this: a job queued after it
            # starts a new task (see run()).
            self._task = None

    async def _write(self, batch: list[_Job[Any]]) -> None:
        try:
            async with self._database.sessions() as session, session.begin():
                changes = self._watch(session)
                results = await _apply(session, batch)
        except Exception:
            if len(batch) == 1:
                await self._write_alone(batch[0])
            else:
                log.warning("a batch of %d feedback writes failed; retrying each", len(batch))
                for job in batch:
                    await self._write_alone(job)
            return
        self.batches += 1
        self._tell(changes)
        for job, result in zip(batch, results, strict=True):
            if not job.done.done():
                job.done.set_result(result)

    async def _write_alone(self, job: _Job[Any]) -> None:
        try:
            async with self._database.sessions() as session, session.begin():
                changes = self._watch(session)
                result = await job.operation(session)
        except Exception as exc:  # the caller decides what it means
            if not job.done.done():
                job.done.set_exception(exc)
            return
        self.batches += 1
        self._tell(changes)
        if not job.done.done():
            job.done.set_result(result)

    def _watch(self, session: AsyncSession) -> list[FeedbackChange] | None:
        return watch_changes(session) if self.on_changes is not None else None

    def _tell(self, changes: list[FeedbackChange] | None) -> None:
        """After a commit: what changed, to whoever keeps counts from it."""
        if changes and self.on_changes is not None:
            try:
                self.on_changes(changes)
            except Exception:  # a reader's bug must not stop the writes
                log.exception("could not hand over %d feedback changes", len(changes))


async def _apply(session: AsyncSession, batch: list[_Job[Any]]) -> list[Any]:
    """Each job's result, in order; runs of plain opinions go through one bulk insert."""
    results: list[Any] = []
    run: list[FeedbackEvent] = []
    for job in [*batch, None]:
        if job is not None and job.event is not None:
            run.append(job.event)
            continue
        if run:
            results.extend(await record_feedback_many(session, run))
            run = []
        if job is not None:
            results.append(await job.operation(session))
    return results
