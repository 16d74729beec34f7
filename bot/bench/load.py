"""`earworm bench load`: the real bot under a mixed load through SimCord, restarted midway,
with every feedback row accounted for.

Members spread over several guilds fire slash commands (/recommend, /similar, /trending,
/mix, /like, /dislike, /rate, /profile, /history) and react on the cards those commands
posted (👍 ❤️ 👎 ⏭️ added and removed), `concurrency` actions in flight together per wave.
Between waves the simulated clock moves on by `tick` seconds, so per-member cooldowns
(EARWORM_COOLDOWN_USES per EARWORM_COOLDOWN_SECONDS, on the heavy commands) see time pass
as members would; some members mash a heavy command several times in one wave. At
`restart_at` of the actions the bot is shut down with a wave still in flight and a new
bot is built on the same database and attached to the same simulated Discord
(`Env.restart_bot`: guilds, members, messages and reactions survive).

Afterwards three things must hold (`LoadReport.problems` lists what did not):
- **Feedback**: the rows stored for the load's members are exactly those the load caused:
  reactions added and not removed (one row per member, card and kind) and the opinions
  saved by /like, /dislike and /rate (one per member, track and kind; the last stars).
- **Errors**: SimCord records every error a handler raised; only UserFacingError and
  cooldown refusals (answered with a friendly message) are allowed. Every command must
  have been answered.
- **Cooldowns**: no member had more heavy commands answered in one cooldown window than
  allowed, and each refused one was told "Try again in N s".

Measured: commands and reactions per second sustained together (wall time of the waves,
the restart excluded), p50/p99 per command from bot.timings, reaction latency from the
emitted event to the end of the bot's handler, event-loop lag, and the restart's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.bench.bot_load import settling_suspended
from bot.http.timings import LoopLagProbe, Summary
from bot.settings import Settings
from bot.ui.cards import CARD_REACTIONS

# What members do, and how often (weights); the heavy ones are under the cooldown.
COMMAND_MIX: dict[str, float] = {
    "recommend": 0.30,
    "similar": 0.18,
    "trending": 0.10,
    "mix": 0.04,
    "like": 0.14,
    "dislike": 0.05,
    "rate": 0.10,
    "profile": 0.05,
    "history": 0.04,
}
HEAVY = frozenset({"recommend", "similar", "mix", "trending", "profile"})
CARD_COMMANDS = frozenset({"recommend", "similar", "mix", "trending"})
OPINIONS = {"like": "like", "dislike": "dislike", "rate": "rating"}
EMOJI = tuple(CARD_REACTIONS)
KIND_OF_EMOJI = {emoji: kind.value for emoji, kind in CARD_REACTIONS.items()}
COOLDOWN_REPLY = re.compile(r"Try again in (\d+) s")
BUSY_REPLY = re.compile(r"^I'm busy right now\.")
SAVED_REPLY = re.compile(r"^(Saved:|You already)")
REACTION_EVENTS = {
    "on_raw_reaction_add": "reaction add",
    "on_raw_reaction_remove": "reaction remove",
}
# SimCord's settling deadline (see mop_up).
SETTLE_SECONDS = 5.0
# A reacted-to pair is taken back this often (when picked again).
REMOVE_SHARE = 0.35


@dataclass(frozen=True)
class LoadPlan:
    members: int = 1_000
    guilds: int = 20
    commands: int = 10_000
    reactions: int = 50_000
    restart_at: float = 0.5  # share of the actions after which the bot restarts; 0: never
    concurrency: int = 100  # actions emitted together per wave
    tick: float = 1.0  # simulated seconds between waves
    mash_share: float = 0.03  # command slots where a member repeats a heavy command at once
    seed: int = 0

    def check(self) -> None:
        if self.members < self.guilds:
            raise ValueError(f"{self.members} members cannot fill {self.guilds} guilds")
        if self.reactions and not self.commands:
            raise ValueError("reactions go on the cards commands post: give some commands")
        if not 0 <= self.restart_at < 1:
            raise ValueError("--restart-at is a share of the actions, from 0 to below 1")


@dataclass
class CommandRecord:
    name: str
    member: int
    at: float  # simulated seconds
    bot: int  # which bot took it: 0 before the restart, 1 after
    outcome: str = "pending"  # answered, cooldown, busy, refused, unanswered (command_outcome)
    text: str = ""


@dataclass
class Ledger:
    """The feedback the load caused, as the database should hold it."""

    reacted: set[tuple[int, int, str]] = field(default_factory=set)  # member, card, kind
    opinions: dict[tuple[int, str, str], int | None] = field(default_factory=dict)
    reaction_adds: int = 0
    reaction_removals: int = 0
    opinion_commands: int = 0

    def expected(self) -> Counter[tuple[Any, ...]]:
        rows: Counter[tuple[Any, ...]] = Counter()
        for member, card, kind in self.reacted:
            rows[("reaction", member, card, kind, None)] += 1
        for (member, track, kind), value in self.opinions.items():
            rows[("command", member, track, kind, value)] += 1
        return rows


@dataclass
class LoadReport:
    database: str
    plan: LoadPlan
    cooldown_uses: int
    cooldown_seconds: float
    seconds: float = 0.0  # wall time of the waves, the restart excluded
    restart_seconds: float = 0.0
    restarted: bool = False
    waves: int = 0
    commands: int = 0
    reactions: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latency: dict[str, Summary] = field(default_factory=dict)
    loop_lag: Summary | None = None
    feedback_expected: int = 0
    feedback_stored: int = 0
    feedback_missing: int = 0
    feedback_unexpected: int = 0
    reaction_adds: int = 0
    reaction_removals: int = 0
    opinion_commands: int = 0
    unhandled: list[str] = field(default_factory=list)  # the first 20
    unhandled_count: int = 0
    allowed_errors: int = 0
    errors_seen: int = 0  # SimCord's error cursor
    cooldown_violations: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0

    @property
    def reactions_per_second(self) -> float:
        return self.reactions / self.seconds if self.seconds else 0.0

    @property
    def problems(self) -> list[str]:
        found = []
        if self.feedback_missing or self.feedback_unexpected:
            found.append(
                f"feedback: {self.feedback_expected} rows expected, {self.feedback_stored} "
                f"stored ({self.feedback_missing} missing, {self.feedback_unexpected} unexpected)"
            )
        if self.unhandled_count:
            first = "; ".join(self.unhandled[:3])
            found.append(f"{self.unhandled_count} unhandled errors, first: {first}")
        found += [f"cooldown broken: {line}" for line in self.cooldown_violations]
        found += [f"no answer: {line}" for line in self.unanswered]
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "plan": vars(self.plan),
            "cooldown": {"uses": self.cooldown_uses, "seconds": self.cooldown_seconds},
            "seconds": round(self.seconds, 3),
            "restart_seconds": round(self.restart_seconds, 3),
            "restarted": self.restarted,
            "waves": self.waves,
            "commands": self.commands,
            "reactions": self.reactions,
            "commands_per_second": round(self.commands_per_second, 1),
            "reactions_per_second": round(self.reactions_per_second, 1),
            "outcomes": dict(self.outcomes),
            "latency_ms": {name: summary.to_json() for name, summary in self.latency.items()},
            "loop_lag_ms": self.loop_lag.to_json() if self.loop_lag else None,
            "feedback": {
                "expected": self.feedback_expected,
                "stored": self.feedback_stored,
                "missing": self.feedback_missing,
                "unexpected": self.feedback_unexpected,
                "reaction_adds": self.reaction_adds,
                "reaction_removals": self.reaction_removals,
                "opinion_commands": self.opinion_commands,
            },
            "allowed_errors": self.allowed_errors,
            "problems": self.problems,
        }


# --- the simulated world --------------------------------------------------------------------


@dataclass
class World:
    env: Any
    channels: list[Any]  # one #music per guild
    members: list[Any]  # MemberActors; member i is in guild i % guilds
    tracks: list[str]
    cards: list[list[Any]] = field(default_factory=list)  # per guild: card messages

    def guild_of(self, member: int) -> int:
        return member % len(self.channels)


def build_world(env: Any, plan: LoadPlan, tracks: list[str]) -> World:
    channels = []
    for number in range(plan.guilds):
        guild = env.create_guild(f"Load {number}")
        channels.append(guild.create_text_channel("music"))
    members = []
    for number in range(plan.members):
        guild = channels[number % plan.guilds].guild
        members.append(guild.add_member(env.create_user(f"member{number}")))
    return World(env, channels, members, tracks, [[] for _ in channels])


# --- measuring reactions ----------------------------------------------------------------------


class ReactionClock:
    """Latency of reactions: from the moment the load emits one to the end of the bot's
    handler for it. The Feedback cog's listeners are re-registered wrapped (discord.py's
    public remove_listener/add_listener), so the real handlers run unchanged."""

    def __init__(self) -> None:
        self._sent: dict[tuple[int, int, str, str], float] = {}
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.handled = 0  # reaction events the bot has finished with

    def install(self, bot: Any) -> None:
        cog = bot.get_cog("Feedback")
        if cog is None:
            raise RuntimeError("the bot has no Feedback cog to time")
        for event, series in REACTION_EVENTS.items():
            handler = getattr(cog, event)
            bot.remove_listener(handler, event)
            bot.add_listener(self._timed(handler, series), event)

    def sent(self, member: int, card: int, emoji: str, series: str) -> None:
        self._sent[(member, card, emoji, series)] = time.perf_counter()

    def _timed(self, handler: Callable[[Any], Any], series: str) -> Callable[[Any], Any]:
        async def timed(payload: Any) -> None:
            try:
                await handler(payload)
            finally:
                key = (payload.user_id, payload.message_id, str(payload.emoji), series)
                started = self._sent.pop(key, None)
                if started is not None:  # else the bot's own reaction (seeding a card)
                    self.samples[series].append(time.perf_counter() - started)
                    self.handled += 1

        return timed


# --- the load ---------------------------------------------------------------------------------


class Load:
    """Chooses the actions (seeded), emits them in waves and keeps the books."""

    def __init__(self, world: World, plan: LoadPlan, report: LoadReport) -> None:
        self.world = world
        self.plan = plan
        self.report = report
        self.rng = random.Random(plan.seed)
        self.ledger = Ledger()
        self.records: list[CommandRecord] = []
        self.clock = ReactionClock()
        self.bots = 1  # bots started so far
        self.commands_left = plan.commands
        self.reactions_left = plan.reactions
        self._pending: list[tuple[CommandRecord, Any]] = []
        self._index = {actor.id: number for number, actor in enumerate(world.members)}
        self._command_names = list(COMMAND_MIX)
        self._command_weights = list(COMMAND_MIX.values())

    @property
    def done(self) -> bool:
        return not self.commands_left and not self.reactions_left

    @property
    def emitted(self) -> int:
        return self.report.commands + self.report.reactions

    async def emit_wave(self) -> None:
        """Up to `concurrency` actions; the same reaction never twice in one wave, so the
        order the bot handles them in cannot change what is stored."""
        busy: set[tuple[int, int, str]] = set()
        slots = self.plan.concurrency
        while slots > 0 and not self.done:
            has_cards = any(self.world.cards)
            left = self.commands_left + (self.reactions_left if has_cards else 0)
            if self.commands_left and self.rng.random() < self.commands_left / left:
                slots -= await self._command()
            elif has_cards and self.reactions_left:
                await self._reaction(busy)
                slots -= 1
            else:
                break

    async def _command(self) -> int:
        member = self.rng.randrange(self.plan.members)
        name = self.rng.choices(self._command_names, self._command_weights)[0]
        repeats = 1
        if name in HEAVY and self.rng.random() < self.plan.mash_share:
            repeats = min(self.commands_left, self.report.cooldown_uses + 2)
        for _ in range(repeats):
            await self._slash(member, name)
        return repeats

    async def _slash(self, member: int, name: str) -> None:
        actor = self.world.members[member]
        channel = self.world.channels[self.world.guild_of(member)]
        options = self._options(name)
        record = CommandRecord(name, actor.id, self.world.env.now().timestamp(), self.bots - 1)
        result = await actor.slash(channel, name, **options)
        self.records.append(record)
        self._pending.append((record, (result, options)))
        self.commands_left -= 1
        self.report.commands += 1

    def _options(self, name: str) -> dict[str, Any]:
        pick = self.rng.choice
        tracks = self.world.tracks
        if name == "recommend":
            return {"count": 5}
        if name == "similar":
            return {"track": pick(tracks), "count": 5}
        if name == "trending":
            return {"scope": pick(("server", "global")), "count": 5}
        if name == "mix":
            return {"track1": pick(tracks), "track2": pick(tracks), "count": 5}
        if name in ("like", "dislike"):
            return {"track": pick(tracks)}
        if name == "rate":
            return {"track": pick(tracks), "stars": self.rng.randint(1, 5)}
        return {}

    async def _reaction(self, busy: set[tuple[int, int, str]]) -> None:
        """One reaction on a card of the member's guild: added, or taken back when it is
        there (Discord sends no event for adding one twice)."""
        world = self.world
        guilds = [guild for guild, cards in enumerate(world.cards) if cards]
        while True:
            guild = self.rng.choice(guilds)
            card = self.rng.choice(world.cards[guild])
            actor = world.members[self.rng.randrange(guild, self.plan.members, len(world.channels))]
            emoji = self.rng.choice(EMOJI)
            key = (actor.id, card.id, KIND_OF_EMOJI[emoji])
            there = key in self.ledger.reacted
            if (actor.id, card.id, emoji) in busy or (there and self.rng.random() > REMOVE_SHARE):
                continue
            busy.add((actor.id, card.id, emoji))
            break
        if there:
            self.clock.sent(actor.id, card.id, emoji, "reaction remove")
            await actor.unreact(card, emoji)
            self.ledger.reacted.discard(key)
            self.ledger.reaction_removals += 1
        else:
            self.clock.sent(actor.id, card.id, emoji, "reaction add")
            await actor.react(card, emoji)
            self.ledger.reacted.add(key)
            self.ledger.reaction_adds += 1
        self.reactions_left -= 1
        self.report.reactions += 1

    def collect(self) -> None:
        """After a wave has settled: what each command answered, the cards to react on and
        the opinions now stored."""
        for record, (result, options) in self._pending:
            record.outcome, record.text, card = command_outcome(record.name, result)
            self.report.outcomes[f"{record.name} {record.outcome}"] += 1
            if card is not None:
                guild = self.world.guild_of(self._member_index(record.member))
                self.world.cards[guild].append(card)
            if record.outcome == "answered" and record.name in OPINIONS:
                kind = OPINIONS[record.name]
                key = (record.member, options["track"], kind)
                self.ledger.opinions[key] = options.get("stars")
                self.ledger.opinion_commands += 1
            if record.outcome == "unanswered":
                self.report.unanswered.append(f"/{record.name} by {record.member}")
        self._pending.clear()

    def _member_index(self, member_id: int) -> int:
        return self._index[member_id]


def command_outcome(name: str, result: Any) -> tuple[str, str, Any]:
    """(outcome, the text the member read last, the card message or None). Outcomes:
    answered; cooldown ("Easy there! Try again in N s."); busy (all model-call slots
    taken); refused (any other private answer: a UserFacingError, or "restarting");
    unanswered."""
    shown = [message for message in [result.response, *result.followups] if message is not None]
    if not shown:
        return "unanswered", "", None
    last = shown[-1]
    text = last.content or ""
    if not last.ephemeral:
        return "answered", text, last if name in CARD_COMMANDS and last.embeds else None
    if BUSY_REPLY.match(text):  # not just "busy" anywhere: a track may be called "Busy"
        return "busy", text, None
    if COOLDOWN_REPLY.search(text):
        return "cooldown", text, None
    # /like, /rate, /history... answer privately when they succeed.
    private_answer = name == "history" or (name in OPINIONS and SAVED_REPLY.match(text))
    return ("answered" if private_answer else "refused"), text, None


# --- checks ---------------------------------------------------------------------------------


def cooldown_violations(records: list[CommandRecord], uses: int, seconds: float) -> list[str]:
    """Members who had more than `uses` heavy commands answered in one cooldown window, or
    were refused without being told when to come back.

    The heavy commands share one budget per member (bot/serving/cooldowns.py). A window opens at
    the first answered use and lasts `seconds` (discord.py's cooldown); a sliding window
    would satisfy this too. Cooldowns live in the bot's memory: a restarted bot starts
    every member afresh, so windows do not reach across a restart (`CommandRecord.bot`)."""
    problems = []
    answered: dict[tuple[int, int], list[float]] = defaultdict(list)
    for record in records:
        if record.name not in HEAVY:
            continue
        if record.outcome == "answered":
            answered[(record.member, record.bot)].append(record.at)
        elif record.outcome == "cooldown":
            wait = int(COOLDOWN_REPLY.search(record.text).group(1))  # type: ignore[union-attr]
            if not 0 < wait <= math.ceil(seconds):
                problems.append(f"/{record.name} refused with a wait of {wait} s")
    for (member, _), times in answered.items():
        opened, used = -math.inf, 0
        for at in sorted(times):
            if at > opened + seconds:
                opened, used = at, 0
            used += 1
            if used > uses:
                problems.append(
                    f"member {member} had {used} heavy commands answered within "
                    f"{seconds:g} s from {opened:g} s (allowed {uses})"
                )
                break
    return problems


async def stored_feedback(bot: Any, members: set[int]) -> Counter[tuple[Any, ...]]:
    from storage.repositories.feedback import feedback_since

    async with bot.database.sessions() as session:
        records = await feedback_since(session, None)
    rows: Counter[tuple[Any, ...]] = Counter()
    for row in records:
        if row.user_id not in members:
            continue
        if row.message_id is not None:
            rows[(row.source.value, row.user_id, row.message_id, row.kind.value, None)] += 1
        else:
            rows[(row.source.value, row.user_id, row.track_id, row.kind.value, row.value)] += 1
    return rows


# --- the run --------------------------------------------------------------------------------


async def stop_bot(bot: Any) -> None:
    """Shut the bot down the way SIGTERM does when it can (`shutdown()`: stop taking
    commands, finish what is in flight, flush feedback); else close it."""
    shutdown = getattr(bot, "shutdown", None)
    if shutdown is not None:
        await shutdown()
    else:
        await bot.close()


@contextlib.asynccontextmanager
async def lag_probe() -> AsyncIterator[LoopLagProbe]:
    probe = LoopLagProbe(asyncio.get_running_loop())
    probe.start()
    try:
        yield probe
    finally:
        probe.stop()


async def run_load_test(
    settings: Settings,
    plan: LoadPlan,
    database: str,
    say: Callable[[str], None] = lambda _: None,
) -> LoadReport:
    """Run `plan` against a bot on `settings`' database (already holding a catalog)."""
    from simcord import Env

    from bot.app import create_bot
    from storage.repositories.snapshots import catalog_rows

    plan.check()
    report = LoadReport(database, plan, settings.cooldown_uses, settings.cooldown_seconds)
    bot = create_bot(settings)
    env = Env(bot, settle_timeout=SETTLE_SECONDS)
    await env.start()
    try:
        with env.time_context():
            async with bot.database.sessions() as session:
                tracks = (await catalog_rows(session)).ids
            if not tracks:
                raise ValueError("the database holds no catalog; import one first")
            world = build_world(env, plan, tracks)
            load = Load(world, plan, report)
            load.clock.install(bot)
            members = {actor.id for actor in world.members}
            if await stored_feedback(bot, members):
                raise ValueError("the database already holds feedback of the load's members")
            restart_after = int((plan.commands + plan.reactions) * plan.restart_at)
            total = plan.commands + plan.reactions
            say(f"{plan.commands:,} commands and {plan.reactions:,} reactions ...")
            async with lag_probe() as probe:
                while not load.done:
                    started = time.perf_counter()
                    restart = (
                        plan.restart_at > 0
                        and not report.restarted
                        and report.commands + report.reactions + plan.concurrency > restart_after
                    )
                    if restart:
                        bot = await _restart_in_flight(env, load, settings, report, say)
                    else:
                        async with settling_suspended(env):
                            await load.emit_wave()
                        await _handled(env, load)
                        report.seconds += time.perf_counter() - started
                    _check_errors(env, report)
                    load.collect()
                    report.waves += 1
                    await env.advance_time(plan.tick)
                    done = report.commands + report.reactions
                    if report.waves % 50 == 0:
                        say(f"{done:,}/{total:,} actions, {report.seconds:.0f} s")
                report.loop_lag = probe.summary()
            await mop_up(env)
            _check_errors(env, report)
            report.latency = {name: bot.timings.summary(name) for name in bot.timings.names()}
            report.latency.update(
                {name: Summary.of(values) for name, values in load.clock.samples.items()}
            )
            report.latency["command (all)"] = _pooled(bot, "command ")
            report.latency["reaction (all)"] = Summary.of(
                [v for values in load.clock.samples.values() for v in values]
            )
            report.cooldown_violations = cooldown_violations(
                load.records, settings.cooldown_uses, settings.cooldown_seconds
            )
            expected = load.ledger.expected()
            stored = await stored_feedback(bot, members)
            report.feedback_expected = sum(expected.values())
            report.feedback_stored = sum(stored.values())
            report.feedback_missing = sum((expected - stored).values())
            report.feedback_unexpected = sum((stored - expected).values())
            report.reaction_adds = load.ledger.reaction_adds
            report.reaction_removals = load.ledger.reaction_removals
            report.opinion_commands = load.ledger.opinion_commands
        return report
    finally:
        await stop_bot(env.bot)
        await env.shutdown()


def _pooled(bot: Any, prefix: str) -> Summary:
    return Summary.of(bot.timings.samples(prefix))


async def _restart_in_flight(
    env: Any, load: Load, settings: Settings, report: LoadReport, say: Callable[[str], None]
) -> Any:
    """Emit a wave, shut the bot down while it is in flight, attach a new bot on the same
    database and the same simulated Discord. Returns the new bot."""
    from bot.app import create_bot

    old = env.bot
    say("restarting the bot with a wave in flight ...")
    started = time.perf_counter()
    graceful = getattr(old, "shutdown", None) is not None
    async with settling_suspended(env):
        await load.emit_wave()
        if graceful:
            await stop_bot(old)
    report.seconds += time.perf_counter() - started
    restart_started = time.perf_counter()
    if not graceful:
        # A plain close() drops in-flight work; let the wave finish first.
        await mop_up(env)
        await old.close()
    # Keep the old bot's measurements: the new one starts with empty timings.
    timings = old.timings
    new = create_bot(settings)
    await env.restart_bot(new)
    new.timings = timings
    load.clock.install(new)
    load.bots += 1
    report.restarted = True
    report.restart_seconds = time.perf_counter() - restart_started
    return new


async def _handled(env: Any, load: Load, stall: float = 0.25) -> None:
    """Wait until the bot has finished every command and reaction emitted so far, then let
    SimCord settle what they left running (seeding reactions on cards).

    Why not settle at once: SimCord's settling re-examines every pending task each time one
    finishes, which costs more than the bot's own work with a wave in flight. Here the
    driver polls two counters (bot.timings records a command as its handler ends; the
    ReactionClock a reaction). If they stop moving (a handler waits on the simulated
    clock), settling takes over."""
    bot = env.bot
    last, still = -1, time.perf_counter()
    while True:
        done = _commands_timed(bot) + load.clock.handled
        if done >= load.emitted:
            break
        if done != last:
            last, still = done, time.perf_counter()
        elif time.perf_counter() - still > stall:
            break
        await asyncio.sleep(0.001)
    await mop_up(env)


async def mop_up(env: Any, rounds: int = 120) -> None:
    """Settle with a short deadline, again while the bot is still busy.

    Short, because SimCord waits for every timer due before the deadline, and asyncpg arms
    one per cached statement (its 300 s expiry): a long deadline would wait for those."""
    for _ in range(rounds - 1):
        try:
            await env.settle(timeout=SETTLE_SECONDS, idle=0.005)
        except TimeoutError:
            continue
        return
    await env.settle(timeout=SETTLE_SECONDS, idle=0.005)


def _commands_timed(bot: Any) -> int:
    return len(bot.timings.samples(""))


def _check_errors(env: Any, report: LoadReport) -> None:
    """Sort the errors SimCord recorded since the last look into allowed and unhandled."""
    from bot.app import friendly_refusal

    for error in env.errors_since(report.errors_seen):
        if friendly_refusal(error):
            report.allowed_errors += 1
        else:
            report.unhandled_count += 1
            if len(report.unhandled) < 20:
                report.unhandled.append(f"{type(error).__name__}: {error}")
    report.errors_seen = env.error_cursor


async def run_on(
    settings: Settings,
    plan: LoadPlan,
    database: str,
    postgres_url: str | None,
    say: Callable[[str], None],
) -> LoadReport:
    """`plan` on a copy of the configured (prepared, SQLite) database: as is for "sqlite",
    copied into a new database on the `postgres_url` server for "postgres" (dropped after).
    Both start from the same rows, models included."""
    from bot.bench.scratch import scratch_data_dir

    with scratch_data_dir(settings, "load-test") as copy:
        if database == "sqlite":
            return await run_load_test(copy, plan, "sqlite", say)
        if postgres_url is None:
            raise ValueError("--database postgres needs --postgres-url")
        from storage.scratch_database import scratch_postgres_database
        from storage.transfer import copy_sqlite_to_postgres

        async with scratch_postgres_database(postgres_url, "load_test") as url:
            say("copying the prepared database into PostgreSQL ...")
            await copy_sqlite_to_postgres(copy.data_dir / "earworm.db", url)
            on_postgres = copy.model_copy(update={"database_url": url})
            return await run_load_test(on_postgres, plan, "postgresql", say)
