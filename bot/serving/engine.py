"""The bot's serving engine: the models in memory, answering slash commands off the loop.

Three kinds of state, each updated at its own cost:

- **Shared, item-side** (`Serving`, immutable): the catalog, the content model, the
  registry's active models composed into a hybrid that knows no member, the catalog chart.
  Built at start-up and on a model swap, in worker threads, then switched atomically: a
  request reads `self._serving` once and finishes on it.
- **Everyone's, incremental** (bot.serving.crowd.Crowd): listener counts (the hybrid's
  popularity) and the trending tally. A member's feedback change re-reads that member's own
  rows and applies the difference, in the background; the hybrid takes the new counts at
  most once per `min_refresh_seconds` (O(tracks), never O(rows)).
- **Per member** (bot.serving.members): their interactions, ALS folded in on them, their
  bounded content profile; built on their first request from their own rows (an indexed
  read), cached (EARWORM_MEMBER_CACHE), dropped by their own feedback only.

So a request costs what scoring one member costs, and a reaction what re-reading one
member costs, however much feedback everyone else has given (docs/performance.md, "Serving
at scale"). Scoring goes through `ModelCalls` (bot/serving/model_calls.py): at most
EARWORM_MAX_MODEL_CALLS at once, bot-wide.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import UserFacingError
from bot.serving.active_models import ActiveModels, compose_base, load_active_models
from bot.serving.artists import ArtistDirectory
from bot.serving.content import MODES, NO_FEATURES, NO_GENRE, UNKNOWN, Similarity
from bot.serving.crowd import Crowd
from bot.serving.members import (
    MemberCache,
    MemberState,
    member_components,
    member_interactions,
)
from bot.serving.model_calls import ModelCalls
from bot.serving.picks import CatalogCards, Pick, PickList
from bot.settings import Settings
from storage.database import Database
from storage.repositories.catalog_version import catalog_version
from storage.repositories.served import ServedItem, recently_served
from storage.repositories.snapshots import catalog_rows, feedback_chunks, feedback_rows_of
from storage.repositories.tracks import track_details

if TYPE_CHECKING:
    import numpy as np

    from bot.http.timings import Timings
    from recommender.base import Recommendation
    from recommender.content import ContentSimilarity
    from recommender.data import Interactions, ItemCatalog
    from recommender.hybrid import Hybrid
    from recommender.trending import CatalogTrending, ChartEntry
    from storage.repositories.changes import FeedbackChange
    from storage.repositories.snapshots import FeedbackRows

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_COUNT = 25
SCOPES = ("server", "global")
# Picks a member saw recently are not shown again by /recommend (while others remain).
RECENT_PICKS = 50
# A genre filter keeps what survives of this many candidates per wanted pick.
GENRE_POOL = 40
# After a model swap, the states of this many recently active members are built again in
# the background, so they do not wait for it on their next request.
WARM_AFTER_SWAP = 100
EMPTY_CATALOG = (
    "My catalog is empty, so I have nothing to recommend yet. "
    "An admin can import one with `earworm catalog import`."
)
# How long /trending waits for feedback changes already known to reach the charts.
CROWD_WAIT = 1.0
MEMBER_UNAVAILABLE = "I couldn't read your listening history just now. Try again in a moment."


@dataclass(frozen=True)
class Serving:
    """The shared, item-side state every request reads; never mutated after it is built."""

    version: int
    fingerprint: str
    catalog: ItemCatalog
    content: ContentSimilarity
    # What serves from the registry; its weights are None when the tuned ones did not fit
    # the models serving and the defaults blend instead.
    active: ActiveModels
    base: Hybrid  # the hybrid composed with no member (popularity as of its build)
    catalog_chart: CatalogTrending
    # /similar's modes, /mix and /artist: the style index over `content` with the artist
    # relations that serve (bot/serving/content.py), and the catalog's artists by name.
    similarity: Similarity
    artists: ArtistDirectory
    cards: CatalogCards  # every catalog track's card details
    built_at: float = 0.0  # time.monotonic() on the event loop

    @property
    def hybrid_label(self) -> str:
        parts = [f"{kind} v{version}" for kind, version in sorted(self.active.versions.items())]
        return " + ".join(parts) if parts else "content + popularity"


class _Chart:
    """The crowd's trending tally, as recommender.trending.trending_chart reads a chart."""

    def __init__(self, crowd: Crowd) -> None:
        self._crowd = crowd

    def top(self, k: int, guild: str | None = None, genre: str | None = None) -> list[Any]:
        return self._crowd.chart(k, guild, genre)


class Engine:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        timings: Timings | None = None,
        min_refresh_seconds: float = 2.0,
    ) -> None:
        self.settings = settings
        self.database = database
        self.timings = timings
        self.min_refresh_seconds = min_refresh_seconds
        self.model_calls = ModelCalls(settings.max_model_calls, threads=settings.scoring_threads)
        self.members = MemberCache(settings.member_cache_size)
        self._serving: Serving | None = None
        self._crowd: Crowd | None = None
        # The shared hybrid with the crowd's popularity as of `_popular_version`.
        self._popular: tuple[int, int, float, Hybrid] | None = None  # serving, crowd, at
        self._version = 0
        self._swap = asyncio.Lock()
        self._building: dict[int, asyncio.Future[MemberState]] = {}
        self._stale_builds: set[int] = set()  # builds that read rows older than a change
        self._crowd_pending: set[int] = set()  # members to read again
        self._crowd_changes: list[FeedbackChange] = []  # rows the writer handed over
        self._crowd_everyone = False
        self._crowd_task: asyncio.Task[None] | None = None
        # Changes asked for and applied so far: a chart waits (briefly) for those before it.
        self._crowd_wanted = 0
        self._crowd_done = 0
        self._crowd_applied = asyncio.Condition()
        self._warm_task: asyncio.Task[None] | None = None
        # Picks of cards shown but not committed yet, per member and card: /recommend
        # leaves them out as it does the stored ones (a card does not wait for its store).
        self._unstored: dict[int, dict[int, tuple[str, ...]]] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load everything; with an empty catalog the engine waits for one (see reload)."""
        # What building a member's state imports, imported now: not on a member's request.
        await asyncio.to_thread(importlib.import_module, "sklearn.cluster")
        await self.reload()

    async def reload(self) -> None:
        """Serve the registry's active models now (after training or a rollback) and the
        catalog as it is (after an import). Everything is loaded in worker threads and
        switched at once; members' states are rebuilt on their next request."""
        async with self._swap:
            previous = self._serving
            serving = await self._build(previous)
            if serving is None:
                self._serving = None
                return
            if previous is None or previous.fingerprint != serving.fingerprint:
                self._crowd = await self._load_crowd(serving.catalog)
                self._crowd_pending.clear()
                self._crowd_everyone = False
            self._serving = serving
            self._popular = None
            settle_garbage()
        self._warm(self.members.recent(WARM_AFTER_SWAP))

    async def _build(self, previous: Serving | None) -> Serving | None:
        """A new shared state; the catalog, content model and catalog chart are reused
        while the catalog is unchanged, and the style index while the artist relations
        are too (bot/serving/relations.py: the registry's active "artists" model, else
        relations fitted from the catalog's playlists)."""
        from bot.serving.catalog import item_catalog
        from bot.serving.content import build_similarity, content_model
        from bot.serving.relations import load_relations

        async with self.database.sessions() as session:
            version = await catalog_version(session)
            if version.tracks == 0:
                return None
            same_catalog = previous is not None and previous.fingerprint == version.fingerprint
            rows = None if same_catalog else await catalog_rows(session)
            active = await load_active_models(session)
        if previous is not None and same_catalog:
            catalog, content = previous.catalog, previous.content
            chart, cards = previous.catalog_chart, previous.cards
        else:
            assert rows is not None
            catalog = await asyncio.to_thread(item_catalog, rows)
            cards = CatalogCards.of(catalog, rows.albums)
            content = await asyncio.to_thread(
                content_model, self.settings, version.fingerprint, catalog
            )
            chart = await asyncio.to_thread(_catalog_chart, catalog)
        async with self.database.sessions() as session:
            served = previous.similarity.relations if previous is not None else None
            relations = await load_relations(session, catalog, served, same_catalog)
        if previous is not None and same_catalog:
            similarity, artists = previous.similarity, previous.artists
            if relations is not similarity.relations:
                similarity = await asyncio.to_thread(similarity.with_relations, relations)
        else:
            similarity = await asyncio.to_thread(build_similarity, content, relations)
            artists = ArtistDirectory.of(similarity.style)
        crowd = self._crowd if same_catalog else None
        base, weights_from = await asyncio.to_thread(
            compose_base,
            active,
            content,
            catalog,
            crowd.popularity() if crowd else None,
            relations.model,
        )
        if weights_from != active.weights_from:  # warned once; the defaults blend instead
            active = dataclasses.replace(active, weights=None, weights_from=weights_from)
        self._version += 1
        return Serving(
            version=self._version,
            fingerprint=version.fingerprint,
            catalog=catalog,
            content=content,
            active=active,
            base=base,
            catalog_chart=chart,
            similarity=similarity,
            artists=artists,
            cards=cards,
            built_at=time.monotonic(),
        )

    async def _load_crowd(self, catalog: ItemCatalog) -> Crowd:
        """Everyone's share from every feedback row: one pass, chunk by chunk, at start-up
        or for a new catalog; afterwards it moves with the rows the writer hands over."""
        crowd = Crowd.starting(catalog)
        loading: asyncio.Future[None] | None = None
        try:
            async with self.database.sessions() as session:
                # The next page is read while the last one is counted (in order: one count
                # at a time): the database's thread and the count's overlap.
                async for rows in feedback_chunks(session):
                    if loading is not None:
                        await loading
                    loading = asyncio.ensure_future(asyncio.to_thread(crowd.load, rows))
            if loading is not None:
                await loading
        finally:
            if loading is not None and not loading.done():
                loading.cancel()
        await asyncio.to_thread(crowd.finish)
        return crowd

    @property
    def serving(self) -> Serving | None:
        return self._serving

    # --- feedback -----------------------------------------------------------------------

    def feedback_written(self, changes: Sequence[FeedbackChange]) -> None:
        """The feedback writer committed these rows (added or removed): the members' states
        are built again on their next request, and the crowd moves by exactly these rows
        in the background (O(rows))."""
        for user in {change.user_id for change in changes}:
            self._forget_member_state(user)
        self._crowd_changes.extend(changes)
        self._wake_crowd()

    def feedback_changed(self, user_id: int | None = None) -> None:
        """A member's feedback or plays changed without the writer saying which rows (an
        import, a shell, a test; None: anyone's): their state is built again on their next
        request, and their share of the crowd is read again in the background."""
        if user_id is None:
            self.members.clear()
            self._stale_builds.update(self._building)
            self._crowd_everyone = True
        else:
            self._forget_member_state(user_id)
            self._crowd_pending.add(user_id)
        self._wake_crowd()

    def _forget_member_state(self, user_id: int) -> None:
        self.members.drop(user_id)
        if user_id in self._building:
            self._stale_builds.add(user_id)

    def _wake_crowd(self) -> None:
        self._crowd_wanted += 1
        if self._crowd_task is None or self._crowd_task.done():
            self._crowd_task = asyncio.get_running_loop().create_task(
                self._sync_crowd(), name="earworm-crowd"
            )

    async def _sync_crowd(self) -> None:
        """Apply changed members' rows to the crowd until none are waiting."""
        try:
            await self._apply_crowd_changes()
        finally:
            async with self._crowd_applied:
                self._crowd_done = self._crowd_wanted
                self._crowd_applied.notify_all()

    async def _apply_crowd_changes(self) -> None:
        while self._crowd_changes or self._crowd_pending or self._crowd_everyone:
            serving, crowd = self._serving, self._crowd
            if serving is None or crowd is None:
                self._crowd_changes.clear()
                self._crowd_pending.clear()
                self._crowd_everyone = False
                return
            wanted = self._crowd_wanted
            try:
                if self._crowd_everyone:
                    self._crowd_everyone = False
                    self._crowd_pending.clear()
                    self._crowd_changes.clear()
                    self._crowd = await self._load_crowd(serving.catalog)
                    continue
                if self._crowd_changes:
                    changes, self._crowd_changes = self._crowd_changes, []
                    await self.model_calls.work(functools.partial(crowd.apply, changes))
                if self._crowd_pending:
                    users = sorted(self._crowd_pending)
                    self._crowd_pending.clear()
                    async with self.database.sessions() as session:
                        rows = await feedback_rows_of(session, users)
                    await self.model_calls.work(
                        functools.partial(_replace_members, crowd, users, rows)
                    )
            except Exception:  # the next change retries; serving goes on meanwhile
                log.exception("could not update listener counts and trending")
                return
            async with self._crowd_applied:
                self._crowd_done = wanted
                self._crowd_applied.notify_all()

    async def _crowd_caught_up(self) -> None:
        """Wait (at most CROWD_WAIT seconds) until the feedback changes known now are applied: a
        chart asked for right after reactions shows them."""
        wanted = self._crowd_wanted
        async with self._crowd_applied:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._crowd_applied.wait_for(lambda: self._crowd_done >= wanted), CROWD_WAIT
                )

    # --- members ------------------------------------------------------------------------

    def serving_card(self, user_id: int, message_id: int, tracks: Sequence[str]) -> None:
        """A card shows `tracks` to the member; its picks are being stored."""
        self._unstored.setdefault(user_id, {})[message_id] = tuple(tracks)

    def card_stored(self, user_id: int, message_id: int) -> None:
        """The card's picks are committed (or failed to be): the database answers now."""
        cards = self._unstored.get(user_id)
        if cards is not None:
            cards.pop(message_id, None)
            if not cards:
                del self._unstored[user_id]

    def member_state(self, user_id: int) -> MemberState | None:
        """The member's cached state, if any (for tests and benchmarks)."""
        return self.members.peek(user_id)

    def member_cache_stats(self) -> dict[str, int]:
        return self.members.to_json()

    async def _member(
        self, user_id: int, serving: Serving, also: _AlsoRecent | None = None
    ) -> MemberState:
        """The member's state for `serving`: cached, or built from their own rows (one
        build at a time per member; concurrent requests share it). When this call reads
        their rows, `also` gets their recently served picks from the same session."""
        state = self.members.get(user_id, serving.version)
        if state is not None:
            return state
        pending = self._building.get(user_id)
        if pending is not None:
            state = await asyncio.shield(pending)
            if state.serving_version == serving.version:
                return state
        future: asyncio.Future[MemberState] = asyncio.get_running_loop().create_future()
        self._building[user_id] = future
        self._stale_builds.discard(user_id)
        try:
            state = await self._build_member(user_id, serving, also)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a lone failure is not "never retrieved"
            raise
        finally:
            if self._building.get(user_id) is future:
                del self._building[user_id]
        if user_id not in self._stale_builds and self._serving is serving:
            self.members.put(state)
        self._stale_builds.discard(user_id)
        future.set_result(state)
        return state

    async def _build_member(
        self, user_id: int, serving: Serving, also: _AlsoRecent | None = None
    ) -> MemberState:
        try:
            async with self.database.sessions() as session:
                rows = await feedback_rows_of(session, [user_id])
                plays = await _member_plays(session, user_id)
                if also is not None:
                    also.served = await recently_served(session, user_id, RECENT_PICKS)
        except Exception:
            log.exception("could not read member %s's feedback", user_id)
            raise UserFacingError(MEMBER_UNAVAILABLE) from None

        def build() -> MemberState:
            from recommender.feedback import feedback_weight

            weights = [
                feedback_weight(kind, value)
                for kind, value in zip(rows.kinds, rows.values, strict=True)
            ]
            times = [moment.timestamp() for moment in rows.created_at]
            interactions = member_interactions(user_id, rows.tracks, weights, times, plays)
            content = serving.content.with_mode("genre")
            reacted = {track for track, weight in zip(rows.tracks, weights, strict=True) if weight}
            played = frozenset(plays.items.tolist()) - reacted if plays is not None else frozenset()
            return MemberState(
                user_id=user_id,
                serving_version=serving.version,
                interactions=interactions,
                components=member_components(serving.base, interactions, content, played),
                rows=serving.base.member_rows(interactions),
                tracks=frozenset(interactions.items.tolist()),
                built_at=0.0,
            )

        state = await self.model_calls.work(build)
        return dataclasses.replace(state, built_at=time.monotonic())

    def _warm(self, users: Iterable[int]) -> None:
        """Build these members' states again in the background (after a swap)."""
        waiting = list(users)
        if not waiting or (self._warm_task is not None and not self._warm_task.done()):
            return

        async def warm() -> None:
            for user in waiting:
                # Members asking now come first: a warm build takes a thread only when
                # no request's work is waiting for one.
                await self.model_calls.idle()
                serving = self._serving
                if serving is None:
                    return
                try:
                    await self._member(user, serving)
                except Exception:  # their next request will say what went wrong
                    log.debug("could not warm member %s", user, exc_info=True)

        self._warm_task = asyncio.get_running_loop().create_task(warm(), name="earworm-warm")

    async def _hybrid(self, serving: Serving) -> Hybrid:
        """The shared hybrid with the crowd's listener counts, refreshed from them at most
        once per `min_refresh_seconds` (O(tracks))."""
        crowd = self._crowd
        cached = self._popular
        if crowd is None:
            return serving.base
        if serving is not self._serving:
            # A request begun before a swap: no refresh for the models on their way out (it
            # would replace the new models' cached counts, and theirs this one's, in turn).
            fits = cached is not None and cached[0] == serving.version
            return cached[3] if cached is not None and fits else serving.base
        if cached is not None and cached[0] == serving.version:
            _, seen, at, hybrid = cached
            fresh = seen == crowd.version
            if fresh or time.monotonic() - at < self.min_refresh_seconds:
                return hybrid
        version = crowd.version
        hybrid = await self.model_calls.work(
            lambda: serving.base.with_popularity(crowd.popularity())
        )
        self._popular = (serving.version, version, time.monotonic(), hybrid)
        return hybrid

    async def scores_for(self, user_id: int) -> np.ndarray:
        """The member's blended scores over every track (diagnostics and tests)."""
        serving = self._require_serving()
        state = await self._member(user_id, serving)
        hybrid = await self._hybrid(serving)
        member = hybrid.with_member(state.interactions, state.components, state.rows)
        return await self.model_calls.work(lambda: member.score_users([str(user_id)]))

    def _span(self, series: str) -> contextlib.AbstractContextManager[None]:
        """Time a stage of a request into the bot's timings (none for a bare engine)."""
        return contextlib.nullcontext() if self.timings is None else self.timings.span(series)

    def _require_serving(self) -> Serving:
        if self._serving is None:
            raise UserFacingError(EMPTY_CATALOG)
        return self._serving

    # --- requests -----------------------------------------------------------------------

    async def recommend(
        self, user_id: int, guild_id: int | None, count: int, genre: str | None = None
    ) -> PickList:
        count = _checked_count(count)
        serving = self._require_serving()
        genre_name = _genre_name(serving, genre) if genre else None
        timings = self.timings
        also = _AlsoRecent()
        with self._span("stage recommend-member"):
            state = await self._member(user_id, serving, also)
        hybrid = await self._hybrid(serving)
        served = also.served
        if served is None:  # their state was built before: one read of its own
            with self._span("stage recommend-recent"):
                async with self.database.sessions() as session:
                    served = await recently_served(session, user_id, RECENT_PICKS)
        recent = [item.track_id for item in served]
        for tracks in self._unstored.get(user_id, {}).values():
            recent.extend(tracks)

        def pick() -> tuple[list[Recommendation], str]:
            started = time.perf_counter()
            member = hybrid.with_member(state.interactions, state.components, state.rows)
            found = _personal_picks(
                member, serving.catalog, str(user_id), count, genre_name, recent
            )
            if timings is not None:
                timings.record("compute recommend", time.perf_counter() - started)
            return found

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
        serving = self._require_serving()
        similarity = serving.similarity
        names = []
        for seed in seeds:
            label = _label(serving.catalog, seed)
            problem = similarity.problem(seed, mode)
            if problem == UNKNOWN:
                raise UserFacingError(
                    f"{label} is new to me: I'll know it after my next refresh. Try another track."
                )
            if problem == NO_FEATURES:
                raise UserFacingError(
                    f"I don't know what {label} sounds like (no audio features). "
                    "Try mode: normal or another track."
                )
            if problem == NO_GENRE:
                raise UserFacingError(f"{label} has no genre in my catalog. Try mode: normal.")
            names.append(label)

        def run() -> list[Recommendation]:
            return similarity.similar(seeds, mode, count)

        results = await self.model_calls.run(run)
        if len(seeds) > 1:
            title = f"A mix of {len(seeds)} tracks"
        elif mode == "normal":
            title = f"Like {names[0]}"
        else:
            title = f"Sounds like {names[0]}" + (" (same genre)" if mode == "genre" else "")
        version = serving.fingerprint[:8]
        if mode == "normal":
            version += f" + {similarity.relations.short_label}"
        return await self._picks(results, title, "content", version)

    def artist_choices(self, typed: str, limit: int = 25) -> list[str]:
        """Catalog artists' names for what a member is typing (no database, no scoring):
        names starting with it, then names containing it, better-known artists first."""
        serving = self._serving
        if serving is None:
            return []
        directory = serving.artists
        return [directory.names[index] for index in directory.matches(typed, limit)]

    def artist_suggestions(self, typed: str, limit: int = 3) -> list[str]:
        """Names to suggest for an artist name that matches none (see ArtistDirectory)."""
        serving = self._serving
        if serving is None:
            return []
        directory = serving.artists
        return [directory.names[index] for index in directory.close(typed, limit)]

    def find_artist(self, typed: str) -> str | None:
        """The catalog's spelling of the artist named `typed` (case and spaces aside)."""
        serving = self._serving
        if serving is None:
            return None
        found = serving.artists.find(typed)
        return None if found is None else serving.artists.names[found]

    async def artist(self, name: str, count: int) -> PickList:
        """Artists like the one named (see `find_artist`), each shown by its best-known
        track, with why."""
        count = _checked_count(count)
        serving = self._require_serving()
        directory = serving.artists
        found = directory.find(name)
        if found is None:
            raise UserFacingError(
                f"I don't know the artist “{_plain(name)}”. "
                "Start typing and pick one from the list."
            )
        key, shown = directory.keys[found], directory.names[found]
        style = serving.similarity.style

        def run() -> list[Recommendation]:
            from recommender.base import Recommendation

            return [
                Recommendation(match.best_track, match.score, f"{match.name}: {match.reason}")
                for match in style.similar_artists(key, count)
            ]

        results = await self.model_calls.run(run)
        notice = None if results else f"I know no other artists to compare {shown} with yet."
        label = serving.similarity.relations.short_label
        return await self._picks(results, f"Artists like {shown}", "artists", label, notice)

    async def trending(
        self, guild_id: int | None, scope: str, genre: str | None, count: int
    ) -> PickList:
        from recommender.trending import UnknownGenreError, trending_chart

        count = _checked_count(count)
        if scope not in SCOPES:
            raise UserFacingError(f"Scope must be one of: {', '.join(SCOPES)}.")
        serving = self._require_serving()
        await self._crowd_caught_up()
        crowd = self._crowd
        guild = str(guild_id) if scope == "server" and guild_id is not None else None
        feedback_chart = _Chart(crowd) if crowd is not None else None

        def chart() -> list[ChartEntry]:
            return trending_chart(
                count, serving.catalog_chart, feedback_chart, guild=guild, genre=genre
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
        wanted = [r.item for r in results]
        serving = self._serving
        details = serving.cards.get_many(wanted) if serving is not None else {}
        missing = [item for item in wanted if item not in details]
        if missing:  # tracks imported since the catalog was read
            with self._span("stage card-details"):
                async with self.database.sessions() as session:
                    found = await track_details(session, missing)
            details.update((d.id, d) for d in found)
        picks = tuple(Pick(details[r.item], r.reason) for r in results if r.item in details)
        return PickList(title, picks, kind, version, notice)


# --- work done in worker threads ----------------------------------------------------------


def settle_garbage() -> None:
    """After a reload (start, a model swap) and once connected (bot/app.py `on_ready`):
    freeze what lives now (the new models' many small objects) so that later collections,
    which Python runs every few thousand allocations, no longer walk them: unfrozen, each
    full collection stalled the event loop for up to a second at 50k feedback rows
    (bot/bench/training.py). No collection here: at a million rows one took five seconds
    on the loop. The old models are freed by reference counting as they go (they hold no
    reference cycles), frozen or not."""
    gc.freeze()


def _replace_members(crowd: Crowd, users: Sequence[int], rows: FeedbackRows) -> None:
    """Each member's rows, read again, replace what the crowd knew of them."""
    for user in users:
        mine = [i for i, owner in enumerate(rows.users) if owner == user]
        crowd.replace_member(
            user,
            dataclasses.replace(
                rows,
                ids=[rows.ids[i] for i in mine],
                users=[rows.users[i] for i in mine],
                guilds=[rows.guilds[i] for i in mine],
                tracks=[rows.tracks[i] for i in mine],
                kinds=[rows.kinds[i] for i in mine],
                values=[rows.values[i] for i in mine],
                created_at=[rows.created_at[i] for i in mine],
            ),
        )


def _catalog_chart(catalog: ItemCatalog) -> CatalogTrending:
    from recommender.data import Interactions
    from recommender.trending import CatalogTrending

    return CatalogTrending().fit(Interactions.from_rows([], []), catalog)


@dataclass
class _AlsoRecent:
    """A request's recently served picks, read with the member's rows when the request
    builds their state: a first request then opens one database session, not two."""

    served: list[ServedItem] | None = None


async def _member_plays(session: Any, user_id: int) -> Interactions | None:
    """The member's plays as weighted interactions (recommender.plays), None without any."""
    from recommender.plays import play_interactions
    from storage.repositories.plays import play_counts_for_user

    counts = await play_counts_for_user(session, user_id)
    if not counts:
        return None
    return play_interactions(
        [str(user_id)] * len(counts),
        [row.track_id for row in counts],
        [row.plays for row in counts],
        [row.skips for row in counts],
        [int(row.last_played.timestamp()) for row in counts],
    )


def _personal_picks(
    hybrid: Hybrid,
    catalog: ItemCatalog,
    member: str,
    count: int,
    genre: str | None,
    recent: Sequence[str],
) -> tuple[list[Recommendation], str]:
    """The hybrid's top picks, without what the member saw lately (unless nothing else is
    left) and, with a genre, only tracks of that genre."""
    wanted = count * GENRE_POOL if genre else count
    wanted = min(wanted, len(hybrid.item_vocab))
    results = _safe(lambda: hybrid.recommend(member, wanted, exclude=recent)) or _safe(
        lambda: hybrid.recommend(member, wanted)
    )
    if genre:
        results = [r for r in results if genre in _genres(catalog, r.item)]
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
