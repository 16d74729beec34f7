"""The bot's serving engine: the models in memory, answering slash commands off the loop.

What serves is one immutable `Serving` snapshot: the catalog, the content model, the
registry's active collaborative models composed into the hybrid with the current
feedback, and the trending charts. A request reads `self._serving` once and uses that
snapshot to the end, so a swap (after new feedback, a training run or a rollback) never
changes a model under a request in flight: the next request gets the new snapshot.

Feedback changes the hybrid's histories and popularity, so `feedback_changed` marks the
snapshot stale; the next request refreshes it first (single-flight: concurrent requests
wait for one refresh), but at most once per `min_refresh_seconds`, so a burst of
reactions costs one recompose, not one per reaction. Everything CPU-bound (loading
artifacts, composing, scoring, fitting charts) runs in a worker thread.

Scoring for members (recommend, similar, mix, trending) goes through `ModelCalls`: at most
EARWORM_MAX_MODEL_CALLS at once, bot-wide. Past that a request waits a moment for a slot,
then the member is told the bot is busy (`BusyError`, with when to retry) instead of
piling up threads and latency for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import gc
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import BusyError, UserFacingError
from bot.serving.active_models import ActiveModels, compose_hybrid, load_active_models
from bot.serving.picks import Pick, PickList
from bot.settings import Settings
from storage.database import Database
from storage.repositories.catalog_version import catalog_version
from storage.repositories.served import recently_served
from storage.repositories.snapshots import catalog_rows, feedback_rows
from storage.repositories.tracks import track_details

if TYPE_CHECKING:
    from recommender.base import Recommendation
    from recommender.content import ContentSimilarity
    from recommender.data import Interactions, ItemCatalog
    from recommender.hybrid import Hybrid
    from recommender.trending import CatalogTrending, FeedbackTrending

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_COUNT = 25
MODES = ("normal", "genre")
SCOPES = ("server", "global")
# Picks a member saw recently are not shown again by /recommend (while others remain).
RECENT_PICKS = 50
# A genre filter keeps what survives of this many candidates per wanted pick.
GENRE_POOL = 40
TRENDING_HALF_LIFE_DAYS = 7.0
# How long a request waits for a model-call slot before the member hears "busy".
MODEL_CALL_WAIT = 1.5
# Recent model calls whose durations estimate when a slot frees (for "try again in N s").
RECENT_CALLS = 50
# Members whose own feedback changed since the last refresh, remembered one by one up to
# this many; past it everyone counts as changed (one refresh serves them all).
MAX_CHANGED_USERS = 10_000
EMPTY_CATALOG = (
    "My catalog is empty, so I have nothing to recommend yet. "
    "An admin can import one with `earworm catalog import`."
)


@dataclass(frozen=True)
class Serving:
    """Everything one request needs; never mutated after it is built."""

    fingerprint: str
    catalog: ItemCatalog
    content: ContentSimilarity
    # What serves from the registry (refreshes reuse it); its weights are None when the
    # tuned ones did not fit the models serving and the defaults blend instead.
    active: ActiveModels
    feedback: Interactions
    servers: list[str]
    hybrid: Hybrid
    catalog_chart: CatalogTrending
    feedback_chart: FeedbackTrending
    # When it was built, on the event loop's clock (set by Engine._build on the loop: a
    # worker thread's clock can differ, e.g. under SimCord's virtual time).
    built_at: float = 0.0

    @property
    def hybrid_label(self) -> str:
        parts = [f"{kind} v{version}" for kind, version in sorted(self.active.versions.items())]
        return " + ".join(parts) if parts else "content + popularity"


class ModelCalls:
    """At most `limit` model calls in worker threads at once; a caller waits up to `wait`
    seconds for a slot, then gets BusyError. Without a bound a burst of commands queues on
    the thread pool and every member waits longer and longer."""

    def __init__(self, limit: int, wait: float = MODEL_CALL_WAIT) -> None:
        self.limit = limit
        self.wait = wait
        self._slots = asyncio.Semaphore(limit)
        # Set inside `reserved`: this request already holds a slot (per task, per bot).
        self._reserved = contextvars.ContextVar(f"model-call-slot-{id(self)}", default=False)
        self._durations: deque[float] = deque(maxlen=RECENT_CALLS)
        self._waiting = 0
        self.running = 0  # calls holding a slot now
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
            return await asyncio.to_thread(call)
        finally:
            self._durations.append(time.perf_counter() - started)
            self.running -= 1
            if not holding:
                self._slots.release()

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


class Engine:
    def __init__(
        self, settings: Settings, database: Database, *, min_refresh_seconds: float = 2.0
    ) -> None:
        self.settings = settings
        self.database = database
        self.min_refresh_seconds = min_refresh_seconds
        self._serving: Serving | None = None
        self._stale = False
        self._changed_users: set[int] = set()
        self._everyone_changed = False  # set when _changed_users would pass its bound
        # The changes the refresh running now reads (members, or everyone).
        self._reading: tuple[set[int], bool] = (set(), False)
        self._lock = asyncio.Lock()
        self.model_calls = ModelCalls(settings.max_model_calls)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load everything; with an empty catalog the engine waits for one (see reload)."""
        await self.reload()

    async def reload(self) -> None:
        """Serve the registry's active models now (after training or a rollback), and the
        catalog as it is (after an import)."""
        async with self._lock:
            self._stale = False
            self._reading = (self._changed_users, self._everyone_changed)
            self._forget_changes()
            try:
                self._serving = await self._build(registry=None)
            finally:
                self._reading = (set(), False)
            settle_garbage()

    def feedback_changed(self, user_id: int | None = None) -> None:
        """New or removed feedback: the next request refreshes histories and charts."""
        self._stale = True
        if user_id is None or self._everyone_changed:
            return
        if len(self._changed_users) >= MAX_CHANGED_USERS:
            # Reactions without commands for a long time: stop growing the set.
            self._everyone_changed = True
            self._changed_users.clear()
        else:
            self._changed_users.add(user_id)

    def _forget_changes(self) -> None:
        self._changed_users = set()  # a new set: a running refresh may hold the old one
        self._everyone_changed = False

    @property
    def serving(self) -> Serving | None:
        return self._serving

    async def _current(self, user_id: int | None = None) -> Serving:
        """The snapshot to serve. A stale one is rebuilt at most once per
        `min_refresh_seconds`, except for a member whose own feedback changed: what you
        just said always shapes your next picks, while everyone else's reactions wait."""
        serving = self._serving
        if serving is None or self._needs_refresh(serving, user_id):
            async with self._lock:
                # Asked again: the refresh this request waited for may have covered it (a
                # burst of members reacting then asking costs one or two rebuilds, not one
                # per member).
                serving = self._serving
                if serving is None or self._needs_refresh(serving, user_id):
                    self._stale = False
                    # Before reading: later changes count again, and members whose news
                    # this build reads wait for it (see _needs_refresh).
                    self._reading = (self._changed_users, self._everyone_changed)
                    self._forget_changes()
                    try:
                        serving = await self._build(
                            registry=serving.active if serving is not None else None
                        )
                    finally:
                        self._reading = (set(), False)
                    self._serving = serving
        if serving is None:
            raise UserFacingError(EMPTY_CATALOG)
        return serving

    def _needs_refresh(self, serving: Serving, user_id: int | None) -> bool:
        """Whether this request must wait for a refresh: the member's own news is not in
        `serving` (or is being read by the refresh running now), or feedback changed and
        `serving` is older than `min_refresh_seconds`."""
        reading, everyone_read = self._reading
        if user_id is not None and (everyone_read or user_id in reading):
            return True
        if not self._stale:
            return False
        yours = user_id is not None and (self._everyone_changed or user_id in self._changed_users)
        return yours or time.monotonic() - serving.built_at >= self.min_refresh_seconds

    async def _build(self, registry: ActiveModels | None) -> Serving | None:
        """A new snapshot: the catalog and content model are reused while the catalog is
        unchanged; `registry` None reloads the active models from the registry."""
        from bot.serving.catalog import interactions, item_catalog
        from bot.serving.content import content_model

        previous = self._serving
        async with self.database.sessions() as session:
            version = await catalog_version(session)
            if version.tracks == 0:
                return None
            same_catalog = previous is not None and previous.fingerprint == version.fingerprint
            rows = None if same_catalog else await catalog_rows(session)
            feedback = await feedback_rows(session)
            if registry is None:
                registry = await load_active_models(session)
        chart = None
        if previous is not None and same_catalog:
            catalog, content = previous.catalog, previous.content
            chart = previous.catalog_chart
        else:
            assert rows is not None
            catalog = item_catalog(rows)
            content = await asyncio.to_thread(
                content_model, self.settings, version.fingerprint, catalog
            )

        def assemble() -> Serving:
            # Row-by-row conversions of every feedback row: here, not on the event loop.
            servers = ["" if guild is None else str(guild) for guild in feedback.guilds]
            return _assemble(
                version.fingerprint,
                catalog,
                content,
                registry,
                interactions(feedback),
                servers,
                chart,
            )

        serving = await asyncio.to_thread(assemble)
        return dataclasses.replace(serving, built_at=time.monotonic())

    # --- requests -----------------------------------------------------------------------

    async def recommend(
        self, user_id: int, guild_id: int | None, count: int, genre: str | None = None
    ) -> PickList:
        count = _checked_count(count)
        serving = await self._current(user_id)
        genre_name = _genre_name(serving, genre) if genre else None
        async with self.database.sessions() as session:
            served = await recently_served(session, user_id, RECENT_PICKS)
        recent = [item.track_id for item in served]
        member = str(user_id)

        def pick() -> tuple[list[Recommendation], str]:
            return _personal_picks(serving, member, count, genre_name, recent)

        results, tier = await self.model_calls.run(pick)
        title = "Picks for you" + (f" in {genre_name}" if genre_name else "")
        notice = None
        if tier == "cold":
            notice = "New here? These are popular picks. React 👍 or 👎 and I'll learn your taste."
        if not results:
            notice = "I have no more picks for you right now. Try another genre or /trending."
        return await self._picks(results, title, "hybrid", serving.hybrid_label, notice)

    async def similar(self, track_id: str, mode: str, count: int) -> PickList:
        return await self._content(track_ids=[track_id], mode=mode, count=count)

    async def mix(self, track_ids: Sequence[str], count: int) -> PickList:
        return await self._content(track_ids=list(track_ids), mode="normal", count=count)

    async def _content(self, track_ids: list[str], mode: str, count: int) -> PickList:
        from recommender.content import MAX_MIX_SEEDS

        count = _checked_count(count)
        if mode not in MODES:
            raise UserFacingError(f"Mode must be one of: {', '.join(MODES)}.")
        seeds = list(dict.fromkeys(track_ids))
        if not 1 <= len(seeds) <= MAX_MIX_SEEDS:
            raise UserFacingError(f"A mix takes 1 to {MAX_MIX_SEEDS} different tracks.")
        serving = await self._current()
        model = serving.content.with_mode(mode)
        names = []
        for seed in seeds:
            label = _label(serving.catalog, seed)
            if not model.has_features(seed):
                raise UserFacingError(
                    f"I don't know what {label} sounds like (no audio features). Try another track."
                )
            if mode == "genre" and not model.genres_of(seed):
                raise UserFacingError(f"{label} has no genre in my catalog. Try mode: normal.")
            names.append(label)

        def run() -> list[Recommendation]:
            if len(seeds) == 1:
                return model.similar_items(seeds[0], count)
            return model.mix(seeds, count)

        results = await self.model_calls.run(run)
        if len(seeds) == 1:
            title = f"Sounds like {names[0]}" + (" (same genre)" if mode == "genre" else "")
        else:
            title = f"A mix of {len(seeds)} tracks"
        return await self._picks(results, title, "content", serving.fingerprint[:8])

    async def trending(
        self, guild_id: int | None, scope: str, genre: str | None, count: int
    ) -> PickList:
        from recommender.trending import UnknownGenreError, trending_chart

        count = _checked_count(count)
        if scope not in SCOPES:
            raise UserFacingError(f"Scope must be one of: {', '.join(SCOPES)}.")
        serving = await self._current()
        guild = str(guild_id) if scope == "server" and guild_id is not None else None

        def chart() -> list[Any]:
            return trending_chart(
                count, serving.catalog_chart, serving.feedback_chart, guild=guild, genre=genre
            )

        try:
            entries = await self.model_calls.run(chart)
        except UnknownGenreError as exc:
            raise UserFacingError(_genre_hint(exc)) from None
        where = "this server" if guild else "Earworm"
        title = f"Trending on {where}" + (f" in {genre}" if genre else "")
        results = [_as_recommendation(entry) for entry in entries]
        return await self._picks(results, title, "trending", None)

    async def _picks(
        self,
        results: Sequence[Recommendation],
        title: str,
        kind: str,
        version: str | None,
        notice: str | None = None,
    ) -> PickList:
        async with self.database.sessions() as session:
            details = {d.id: d for d in await track_details(session, [r.item for r in results])}
        picks = tuple(Pick(details[r.item], r.reason) for r in results if r.item in details)
        return PickList(title, picks, kind, version, notice)


# --- work done in worker threads ----------------------------------------------------------


def settle_garbage() -> None:
    """After a reload (start, a model swap): freeze what lives now (the new snapshot's
    many small objects) so that later collections, which Python runs every few thousand
    allocations, no longer walk them: unfrozen, each full collection stalled the event
    loop for up to a second at 50k feedback rows (bot/bench/training.py). No collection
    here: at a million rows one took five seconds on the loop. The old snapshot is freed
    by reference counting as it goes (it holds no reference cycles), frozen or not.

    Not after the refreshes feedback triggers (every few seconds while members react):
    cyclic garbage still uncollected at a freeze is never collected, so freezing that
    often would leak; those refreshes reuse the catalog and content model, which hold
    most of the objects."""
    gc.freeze()


def _assemble(
    fingerprint: str,
    catalog: ItemCatalog,
    content: ContentSimilarity,
    registry: ActiveModels,
    feedback: Interactions,
    servers: list[str],
    catalog_chart: CatalogTrending | None = None,
) -> Serving:
    """A snapshot from its parts; `catalog_chart`, fitted on this catalog before, is
    reused with the new feedback instead of being fitted again."""
    from recommender.trending import CatalogTrending, FeedbackTrending

    hybrid, weights_from = compose_hybrid(registry, content, feedback, catalog)
    if weights_from != registry.weights_from:  # warned once; later refreshes use the defaults
        registry = dataclasses.replace(registry, weights=None, weights_from=weights_from)
    if catalog_chart is None:
        catalog_chart = CatalogTrending().fit(feedback, catalog)
    else:
        catalog_chart = catalog_chart.with_interactions(feedback)
    feedback_chart = FeedbackTrending(half_life_days=TRENDING_HALF_LIFE_DAYS).fit(
        feedback, catalog, groups=servers, now=time.time()
    )
    return Serving(
        fingerprint=fingerprint,
        catalog=catalog,
        content=content,
        active=registry,
        feedback=feedback,
        servers=servers,
        hybrid=hybrid,
        catalog_chart=catalog_chart,
        feedback_chart=feedback_chart,
    )


def _personal_picks(
    serving: Serving, member: str, count: int, genre: str | None, recent: Sequence[str]
) -> tuple[list[Recommendation], str]:
    """The hybrid's top picks, without what the member saw lately (unless nothing else is
    left) and, with a genre, only tracks of that genre."""
    hybrid = serving.hybrid
    wanted = count * GENRE_POOL if genre else count
    wanted = min(wanted, len(hybrid.item_vocab))
    results = _safe(lambda: hybrid.recommend(member, wanted, exclude=recent)) or _safe(
        lambda: hybrid.recommend(member, wanted)
    )
    if genre:
        in_genre = [r for r in results if genre in _genres(serving.catalog, r.item)]
        results = in_genre
    return results[:count], hybrid.tier_of(member)


def _safe(call: Callable[[], list[T]]) -> list[T]:
    try:
        return call()
    except ValueError:  # k larger than what is left
        return []


def _genres(catalog: ItemCatalog, item: str) -> tuple[str, ...]:
    index = catalog.vocab.index(item)
    return tuple(catalog.genres[index]) if index >= 0 else ()


def _label(catalog: ItemCatalog, item: str) -> str:
    index = catalog.vocab.index(item)
    if index < 0:
        return "that track"
    return f"{catalog.names[index]} by {', '.join(catalog.artists[index])}"


def _genre_name(serving: Serving, genre: str) -> str:
    from recommender.trending import UnknownGenreError

    try:
        return serving.catalog_chart.genre_name(genre)
    except UnknownGenreError as exc:
        raise UserFacingError(_genre_hint(exc)) from None


def _genre_hint(exc: Any) -> str:
    suggestions = ", ".join(exc.suggestions[:5])
    if not suggestions:
        return "My catalog has no genres to filter by. Leave the genre out."
    lead = "Did you mean" if exc.close else "Try one of"
    return f"I don't know the genre “{_plain(exc.genre)}”. {lead}: {suggestions}?"


def _plain(text: str, limit: int = 50) -> str:
    """User text echoed back without markdown or mentions (it could be anything)."""
    return "".join(c for c in text[:limit] if c.isalnum() or c in " -'&/")


def _as_recommendation(entry: Any) -> Recommendation:
    from recommender.base import Recommendation

    return Recommendation(entry.item, entry.score, entry.reason)


def _checked_count(count: int) -> int:
    if isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise UserFacingError(f"Count must be between 1 and {MAX_COUNT}.")
    return count
