"""`earworm bench bot`: the bot's own speed under load, through SimCord (no network).

The real bot (`create_bot`) runs against SimCord's simulated Discord, on a database holding
the whole local catalog (../shared/data/spotify_catalog) and a seeded history of likes, with
ALS trained on it so `/recommend` serves the full hybrid. Then:

- **Commands**: members issue `/recommend`, `/similar` and track autocomplete in waves of
  `--members` interactions emitted at once (every member of the wave in flight together),
  for `--rounds` waves. The latency of an interaction is measured inside the bot, from the
  moment its handler starts until it has answered (bot.app.EarwormTree), so it includes
  waiting for the loop while the rest of the wave is handled.
- **Event-loop lag** during that load, from a thread that posts callbacks to the loop
  (bot.http.timings.LoopLagProbe).
- **Reactions**: `--reactions` distinct reaction events on the cards the members got,
  emitted as fast as the simulated gateway takes them; the rate is events over the time
  until the bot has handled every one, and the feedback table is counted afterwards: none
  may be lost or doubled.

SimCord settles after each member action by default; to put many interactions in flight at
once the benchmark suspends that settling while it emits a wave and settles once after
(`in_flight_together`). That reaches into SimCord's private `_settle_internal`; the
benchmark is the only place that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import click

from bot.bench.scratch import ensure_local_catalog
from bot.http.timings import LoopLagProbe, Summary
from bot.settings import Settings

EMOJI = ("👍", "❤️", "👎", "⏭️")
FIRST_MEMBER = 700_000_000_000_000_000
QUERIES = ("love", "night", "the", "dance", "rock", "blue", "girl", "fire", "heart", "baby")


@dataclass(frozen=True)
class Phase:
    latency: dict[str, Summary]
    loop_lag: Summary

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": {name: s.to_json() for name, s in self.latency.items()},
            "loop_lag_ms": self.loop_lag.to_json(),
        }


@dataclass
class BotBenchReport:
    tracks: int
    feedback_rows: int
    members: int
    rounds: int
    rate: float
    duration: float
    paced: Phase | None = None
    burst: Phase | None = None
    reactions: int = 0
    reaction_seconds: float = 0.0
    reactions_stored: int = 0
    reactions_expected: int = 0
    # The same, fed straight to discord.py's gateway parser: the bot's own cost without
    # the simulated gateway's (permission checks, payload copies, settling).
    direct_reactions: int = 0
    direct_seconds: float = 0.0
    direct_stored: int = 0

    @property
    def direct_per_second(self) -> float:
        return self.direct_reactions / self.direct_seconds if self.direct_seconds else 0.0

    @property
    def reactions_per_second(self) -> float:
        return self.reactions / self.reaction_seconds if self.reaction_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tracks": self.tracks,
            "feedback_rows": self.feedback_rows,
            "members": self.members,
            "rounds": self.rounds,
            "rate": self.rate,
            "duration": self.duration,
            "paced": self.paced.to_json() if self.paced else None,
            "burst": self.burst.to_json() if self.burst else None,
            "reactions": {
                "events": self.reactions,
                "seconds": round(self.reaction_seconds, 3),
                "per_second": round(self.reactions_per_second, 1),
                "stored": self.reactions_stored,
                "expected": self.reactions_expected,
            },
            "reactions_direct": {
                "events": self.direct_reactions,
                "seconds": round(self.direct_seconds, 3),
                "per_second": round(self.direct_per_second, 1),
                "stored": self.direct_stored,
            },
        }


# --- preparation ----------------------------------------------------------------------------


async def prepare(
    settings: Settings, members: int, likes: int, seed: int, say: Callable[[str], None]
) -> tuple[int, int]:
    """Import the local catalog (once), give the members a seeded history of likes (once)
    and train ALS on it; returns (tracks, feedback rows)."""
    from bot.composition import database_for
    from bot.learning.run import RunOptions, TrainingBusy, run_training
    from storage.models import FeedbackKind, FeedbackSource
    from storage.repositories.feedback import FeedbackEvent, count_feedback, record_feedback
    from storage.repositories.snapshots import catalog_rows
    from storage.repositories.tracks import catalog_stats

    await ensure_local_catalog(settings, say)
    async with database_for(settings) as database, database.sessions() as session:
        tracks = (await catalog_stats(session)).tracks
        rows = await count_feedback(session)
        if rows == 0:
            say(f"recording {likes} likes for each of {members} members ...")
            ids = (await catalog_rows(session)).ids
            rng = random.Random(seed)
            for member in range(members):
                # Each member likes around one "home" region of the catalog (ids are
                # sorted, so neighbours are unrelated tracks but stable across runs).
                for track in rng.sample(ids, likes):
                    await record_feedback(
                        session,
                        FeedbackEvent(
                            user_id=FIRST_MEMBER + member,
                            guild_id=None,
                            track_id=track,
                            kind=FeedbackKind.LIKE,
                            source=FeedbackSource.COMMAND,
                        ),
                    )
            await session.commit()
            rows = await count_feedback(session)
        say("training ALS on that feedback ...")
        try:
            outcome = await run_training(settings, database, "als", RunOptions(seed=seed))
        except TrainingBusy as exc:
            outcome = None
            say(f"ALS not trained ({exc})")
        if outcome is not None and not outcome.promoted:
            why = outcome.error or "; ".join(r.reason for r in outcome.results)
            say(f"ALS not promoted ({why}); /recommend serves what is active")
    return tracks, rows


# --- load ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def settling_suspended(env: Any) -> AsyncIterator[None]:
    """Emit member actions without SimCord settling after each (see the module
    docstring); the caller decides when to wait for the bot."""
    original = env._settle_internal

    async def emit_only(*_: Any, **__: Any) -> None:
        return None

    env._settle_internal = emit_only
    try:
        yield
    finally:
        env._settle_internal = original


@contextlib.asynccontextmanager
async def lean_virtual_clock(env: Any, prune_every: float = 0.25) -> AsyncIterator[None]:
    """Keep SimCord's virtual clock cheap during a long window with settling suspended.

    Each bot timer advances SimCord's clock, and every advance scans (a) every message
    posted so far for a poll that may expire and (b) every timer record ever scheduled,
    cancelled ones included, which only a settle prunes. Over a minute of load both grow to
    tens of thousands and the scans take half of the loop's CPU: harness overhead, not the
    bot's. The bot sends no polls, so the poll scan is switched off, and cancelled timer
    records are pruned as SimCord's own settle does. Private SimCord API, benchmark only.
    """
    from simcord._settlement import _active_callbacks

    backend = env.backend
    saved = {
        name: backend.__dict__.get(name) for name in ("next_poll_deadline", "expire_due_polls")
    }
    backend.next_poll_deadline = lambda: None
    backend.expire_due_polls = lambda: None

    async def prune() -> None:
        while True:
            await asyncio.sleep(prune_every)
            _active_callbacks(env._settlement_state())

    pruner = asyncio.create_task(prune(), name="bench prune simcord timers")
    try:
        yield
    finally:
        pruner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruner
        for name, value in saved.items():
            if value is None:
                backend.__dict__.pop(name, None)
            else:
                setattr(backend, name, value)


@contextlib.asynccontextmanager
async def in_flight_together(env: Any, settle_within: float = 600) -> AsyncIterator[None]:
    """Emit several member actions without SimCord settling after each, then settle once:
    all of them are handled concurrently by the bot. SimCord also waits for every timer
    due within `settle_within` (a bot's periodic loops included): keep it under their period."""
    async with settling_suspended(env):
        yield
    # SimCord calls the bot idle after `idle` seconds without work; keep that short so it
    # adds little to what is measured.
    await env.settle(timeout=settle_within, idle=0.005)


async def run_load(
    settings: Settings,
    *,
    members: int,
    rounds: int,
    rate: float,
    duration: float,
    reactions: int,
    reaction_wave: int = 500,
    seed: int,
    say: Callable[[str], None],
) -> BotBenchReport:
    from simcord import Env

    from bot.app import create_bot
    from bot.composition import database_for
    from storage.repositories.feedback import count_feedback

    rng = random.Random(seed)
    # A few simulated members send commands at a steady rate: per-member cooldowns would
    # refuse most of them (`earworm bench load` checks cooldowns; this measures serving).
    bot = create_bot(settings.model_copy(update={"cooldown_seconds": 0.0}))
    env = Env(bot, settle_timeout=600)
    await env.start()
    try:
        guild = env.create_guild("Benchmark")
        channel = guild.create_text_channel("music")
        actors = [guild.add_member(env.create_user(f"member{number}")) for number in range(members)]
        database = bot.database
        async with database.sessions() as session:
            before = await count_feedback(session)
        tracks = list(bot.engine.serving.catalog.vocab.ids) if bot.engine.serving else []
        report = BotBenchReport(
            tracks=len(tracks),
            feedback_rows=before,
            members=members,
            rounds=rounds,
            rate=rate,
            duration=duration,
        )

        say("warming up ...")
        await actors[0].slash(channel, "recommend", count=5)
        await actors[0].slash(channel, "similar", track=tracks[0])
        await actors[0].autocomplete(channel, "similar", "track", "love")
        bot.timings.clear()

        async def act(actor: Any) -> None:
            """One member action, emitted (the caller decides when the bot handles it)."""
            action = rng.random()
            if action < 0.4:
                await actor.slash(channel, "recommend", count=5)
            elif action < 0.7:
                await actor.slash(channel, "similar", track=rng.choice(tracks))
            else:
                query = rng.choice(QUERIES)[: rng.randint(2, 5)]
                await actor.autocomplete(channel, "similar", "track", query)

        probe = LoopLagProbe(asyncio.get_running_loop())
        probe.start()
        try:
            say(f"{rate:g} interactions/s from {members} members for {duration:g} s ...")
            async with in_flight_together(env):
                # Open loop: arrivals at seeded exponential gaps, whatever the bot is doing.
                started = time.perf_counter()
                due = 0.0
                while due < duration:
                    await act(rng.choice(actors))
                    due += rng.expovariate(rate)
                    await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
            report.paced = phase_of(bot, probe)
            for round_ in range(rounds):
                say(f"burst {round_ + 1}/{rounds}: all {members} members at once ...")
                async with in_flight_together(env):
                    for actor in actors:
                        await act(actor)
            report.burst = phase_of(bot, probe)
        finally:
            probe.stop()

        say(f"{reactions} reactions ...")
        cards = await _cards(env, channel, actors)
        events = _reaction_events(rng, actors, cards, reactions)
        started = time.perf_counter()
        for start in range(0, len(events), reaction_wave):
            async with in_flight_together(env):
                for actor, message, emoji in events[start : start + reaction_wave]:
                    await actor.react(message, emoji)
        report.reaction_seconds = time.perf_counter() - started
        report.reactions = len(events)
        async with database_for(settings) as check, check.sessions() as session:
            report.reactions_stored = await count_feedback(session) - before
        report.reactions_expected = len(events)

        say(f"{reactions} reactions straight into the gateway parser ...")
        async with database_for(settings) as check:
            async with check.sessions() as session:
                target = await count_feedback(session) + reactions
            payloads = _raw_reactions(rng, guild.id, cards, reactions)
            started = time.perf_counter()
            for start in range(0, len(payloads), reaction_wave):
                for payload in payloads[start : start + reaction_wave]:
                    bot._connection.parse_message_reaction_add(payload)
                await asyncio.sleep(0)  # let the handlers run between waves
            # Handlers dispatched from outside the bot are not SimCord's to settle: the
            # clock stops when the database holds every event (polled every 5 ms).
            stored = await _wait_for_rows(check, target)
            report.direct_seconds = time.perf_counter() - started
        report.direct_reactions = len(payloads)
        report.direct_stored = stored - (target - reactions)
        await env.settle(timeout=600)
        return report
    finally:
        await env.shutdown()


async def _cards(env: Any, channel: Any, actors: list[Any]) -> list[Any]:
    """One /recommend card per member; the messages the reactions go on."""
    cards = []
    for actor in actors:
        result = await actor.slash(channel, "recommend", count=5)
        shown = result.response or (result.followups[-1] if result.followups else None)
        if shown is None:
            raise RuntimeError("/recommend answered without a card; see the bot's log")
        cards.append(shown)
    return cards


def check_reactions(members: int, reactions: int) -> None:
    """Each member gets one card, and reactions must be distinct to count as stored."""
    possible = members * members * len(EMOJI)
    if reactions > possible:
        raise ValueError(
            f"--reactions {reactions} is more than the {possible} distinct reactions "
            f"{members} members can put on their {members} cards; add --members"
        )


def _reaction_events(
    rng: random.Random, actors: list[Any], cards: list[Any], count: int
) -> list[tuple[Any, Any, str]]:
    """`count` distinct (member, card, emoji) reactions; distinct so each must be stored."""
    possible = len(actors) * len(cards) * len(EMOJI)
    chosen = rng.sample(range(possible), count)
    events = []
    for code in chosen:
        actor, rest = divmod(code, len(cards) * len(EMOJI))
        card, emoji = divmod(rest, len(EMOJI))
        events.append((actors[actor], cards[card], EMOJI[emoji]))
    return events


async def _wait_for_rows(database: Any, target: int, limit_seconds: float = 120.0) -> int:
    from storage.repositories.feedback import count_feedback

    deadline = time.perf_counter() + limit_seconds
    while True:
        async with database.sessions() as session:
            rows = int(await count_feedback(session))
        if rows >= target or time.perf_counter() > deadline:
            return rows
        await asyncio.sleep(0.005)


def phase_of(bot: Any, probe: LoopLagProbe) -> Phase:
    """What the bot measured since the last phase, and reset for the next."""
    phase = Phase(
        {name: bot.timings.summary(name) for name in bot.timings.names()}, probe.summary()
    )
    bot.timings.clear()
    probe.reset()
    return phase


def _raw_reactions(
    rng: random.Random, guild_id: int, cards: list[Any], count: int
) -> list[dict[str, Any]]:
    """MESSAGE_REACTION_ADD payloads as the gateway sends them, from members who have not
    reacted yet (new ids), so every one must be stored."""
    payloads = []
    for number in range(count):
        card = cards[number % len(cards)]
        payloads.append(
            {
                "user_id": str(FIRST_MEMBER * 2 + number // (len(cards) * len(EMOJI))),
                "channel_id": str(card.channel_id),
                "message_id": str(card.id),
                "guild_id": str(guild_id),
                "emoji": {"id": None, "name": EMOJI[(number // len(cards)) % len(EMOJI)]},
                "burst": False,
                "type": 0,
            }
        )
    rng.shuffle(payloads)
    return payloads


def print_report(report: BotBenchReport) -> None:
    click.echo(
        f"catalog {report.tracks:,} tracks, {report.feedback_rows:,} feedback rows, "
        f"{report.members} members"
    )
    phases = [
        (f"steady: {report.rate:g}/s for {report.duration:g} s (open loop)", report.paced),
        (f"bursts: all {report.members} at once, x{report.rounds}", report.burst),
    ]
    for title, phase in phases:
        if phase is None:
            continue
        click.echo(f"\n{title}")
        click.echo(f"{'interaction':28} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
        rows = [*sorted(phase.latency.items()), ("event-loop lag", phase.loop_lag)]
        for name, summary in rows:
            click.echo(
                f"{name:28} {summary.count:>6} {summary.p50_ms:>9.2f} {summary.p99_ms:>9.2f} "
                f"{summary.max_ms:>9.2f}"
            )
    click.echo("")
    lost = report.reactions_expected - report.reactions_stored
    click.echo(
        f"reactions: {report.reactions:,} in {report.reaction_seconds:.2f} s = "
        f"{report.reactions_per_second:,.0f}/s; stored {report.reactions_stored:,} of "
        f"{report.reactions_expected:,} ({'none lost' if lost == 0 else f'{lost:+,} differ'})"
    )
    lost = report.direct_reactions - report.direct_stored
    click.echo(
        f"reactions into the gateway parser: {report.direct_reactions:,} in "
        f"{report.direct_seconds:.2f} s = {report.direct_per_second:,.0f}/s; stored "
        f"{report.direct_stored:,} ({'none lost' if lost == 0 else f'{lost:+,} differ'})"
    )
