"""`earworm simulate`: real tastes played against the real bot, round after round.

Each simulated member is a real playlist of the TidyTuesday `spotify_songs` table (read by
bot.demo.read_playlists): its catalog tracks and their artists are its hidden taste, and
`REVEALED` of its tracks are its first likes, given with `/like` as a member would.

Every round, through SimCord:
- **earworm**: each member runs `/recommend count:5` and judges every pick of the card in
  turn: one it likes (the track, or the track's main artist, is in its hidden set) gets the
  card's 👍 Like button, then ⏭️ Next moves the card on (not a skip: it was liked); one it
  does not like gets ⏭️ Next, which the bot records as a skip. (Reactions count once per
  member and message, so the buttons are how a member judges five picks on one card.)
  After the round an admin member runs `/admin retrain model:als`: the bot trains in a
  child process and posts the outcome.
- **trending**: other members (the same tastes) run `/trending scope:global count:5`; their
  picks are judged the same way but never reacted to, so that policy learns nothing.
- **random**: five uniformly random catalog tracks per member, judged the same way.

**Imported histories (`--history`).** Each member's playlist is split in two halves
(seeded): the hidden taste every policy is judged against is one half. The members are
dealt into two arms of other playlists (`history_arms`): the earworm, trending and random
members play the first arm's tastes, and a fourth policy, **history**, has the second arm's
members, who before round 1 import a Spotify extended streaming history made from the other
half of their playlist (storage/history/synthetic.py: repeated plays of favourites, some
quick skips, written as Spotify writes it) through `/import spotify` with a SimCord
attachment, as a member would, then reveal their first likes and judge picks like the
earworm members. The imported tracks are never the ones judged, so a pick is not rewarded
for repeating what was imported (and played tracks are not offered anyway). The arms never
share a playlist: a member of the same taste who imported its other half would hand an
earworm member that half (and its artists, the judge's rule) through the collaborative
models, a leak the first version of this simulation had (round 1: 0.35 for earworm, far
above a run without histories). One run then reports the like-rate per round with and
without histories, side by side.

**Background listeners.** Every playlist of the table that is NOT a simulated member's
is recorded before the run as a background listener who liked its catalog tracks (as
`earworm demo` records its history; `--background N` keeps the first N): other real
playlists, never the simulated ones, so ALS learns real co-occurrence, and trending-only
charts the same history. Without them ALS trains on the members' own few likes and
learns nothing (validation NDCG@10 ~0; docs/simulation.md).

**Members' own playlists are held out.** The catalog's public playlists teach the bot
which artists are played alongside which (the artist relations of `/similar` and
`/artist`, fitted at start-up and in every training). A simulated member's taste *is* one
of those playlists, so before the bot starts or anything trains, every simulated member's
playlist rows are deleted from the run's copy of the database (`hold_out_playlists`):
the bot never sees a member's hidden taste through them, as the background listeners are
never a member's playlist either.

**Time passes as it does for people.** Members come back to the bot round after round, so
between rounds the simulated clock moves on by `ROUND_GAP_SECONDS` (a minute, about what the
retraining takes). The per-member cooldown of the heavy commands (3 per 10 s by default)
applies here as in a real server and is not turned off: the simulation measures what members
get. A command the bot refuses politely anyway (cooldown, busy, a failed check) is counted in
the report's `refused`, by policy and outcome, never a crash; its picks count as not shown.

The like-rate of a round is likes over picks shown. The run works on a scratch data
directory holding a copy of the prepared database (bot/bench/scratch.py), so repeated runs
start from the same state and never touch the configured one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import discord

from bot.demo.session import PLAYLISTS_FILE, Playlist, read_playlists
from bot.settings import Settings
from storage.database import Database
from storage.dto import TrackSummary

POLICIES = ("earworm", "random", "trending")
HISTORY = "history"  # the fourth policy with --history: earworm after an imported history
PICKS = 5
REVEALED = 3
MIN_PLAYLIST_TRACKS = 15  # catalog tracks; fewer say too little about a taste
ADMIN_ROLE = "admins"
# Imported histories (--history): streams per track of the imported half, and their length
# (the catalog's durations are not needed: a stream of 30 s or more counts as heard).
HISTORY_STREAMS_PER_TRACK = 8
HISTORY_TRACK_MS = 210_000
HISTORY_FILE = "Streaming_History_Audio_2019-2020_0.json"
# Background members' ids: far from any snowflake SimCord hands out, and from the demo's.
FIRST_BACKGROUND_MEMBER = 200_000_000_000_000_000
BACKGROUND_AGE_DAYS = 30
# Simulated time between rounds: members come back after the retraining (which takes about
# that long in real time). Past the default cooldown window, and far short of the nightly
# run's hour on SimCord's clock, so the admin's /admin retrain stays the only training.
ROUND_GAP_SECONDS = 60.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class Taste:
    """A member's hidden taste: one real playlist (with --history, half of it: `history`
    holds the other half, the tracks the member's imported history plays)."""

    playlist: str
    tracks: frozenset[str]
    artists: frozenset[str]
    revealed: tuple[str, ...]
    history: tuple[TrackSummary, ...] = ()

    def likes(self, track: TrackSummary) -> bool:
        main_artist = track.artists[0] if track.artists else None
        return track.id in self.tracks or main_artist in self.artists


@dataclass
class SimulationReport:
    users: int
    rounds: int
    seed: int
    rates: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in POLICIES})
    # With --history: what the history members' imports stored (members, plays, new tracks).
    history: dict[str, int] | None = None
    training: list[str] = field(default_factory=list)  # one line per retraining
    # Feedback rows the bot stored for the members, by policy and kind (read back at the end).
    stored: dict[str, dict[str, int]] = field(default_factory=dict)
    earworm_likes: int = 0  # likes the earworm members gave on cards (buttons)
    background: tuple[int, int] = (0, 0)  # background members and their likes
    held_out_playlist_rows: int = 0  # the members' own playlists' rows, deleted first
    seconds: list[dict[str, float]] = field(default_factory=list)  # per round, wall clock
    # Commands the bot refused politely, by policy and outcome (cooldown, busy, refused).
    refused: dict[str, Counter[str]] = field(
        default_factory=lambda: {"earworm": Counter(), "trending": Counter()}
    )

    def to_json(self) -> dict[str, Any]:
        extra = {} if self.history is None else {"history": self.history}
        return {
            **extra,
            "policies": self.rates,
            "users": self.users,
            "rounds": self.rounds,
            "seed": self.seed,
            "training": self.training,
            "stored_feedback": self.stored,
            "card_likes": self.earworm_likes,
            "background": {"members": self.background[0], "likes": self.background[1]},
            "held_out_playlist_rows": self.held_out_playlist_rows,
            "seconds": self.seconds,
            "refused": {policy: dict(sorted(c.items())) for policy, c in self.refused.items()},
        }


# --- setup ----------------------------------------------------------------------------------


def playlists_path(settings: Settings) -> Path:
    path = settings.shared_data_dir / PLAYLISTS_FILE
    if not path.is_file():
        raise ValueError(f"the playlists are not at {path}; set EARWORM_SHARED_DATA")
    return path


async def catalog_tracks(
    database: Database, playlists: Sequence[Playlist]
) -> dict[str, list[TrackSummary]]:
    """Each playlist's tracks that are in the catalog, in playlist order."""
    from storage.repositories.tracks import get_tracks

    found: dict[str, list[TrackSummary]] = {}
    async with database.sessions() as session:
        for playlist in playlists:
            known = {track.id: track for track in await get_tracks(session, playlist.tracks)}
            found[playlist.id] = [known[t] for t in playlist.tracks if t in known]
    return found


def choose_tastes(
    known: dict[str, list[TrackSummary]],
    playlists: Sequence[Playlist],
    users: int,
    seed: int,
    *,
    split: bool = False,
) -> list[Taste]:
    """`users` playlists with `MIN_PLAYLIST_TRACKS`+ catalog tracks, drawn with `seed`.
    With `split`, each taste is half of its playlist and `history` the other half."""
    tastes = []
    for playlist in playlists:
        tracks = known[playlist.id]
        if len(tracks) < MIN_PLAYLIST_TRACKS:
            continue
        rng = random.Random(f"{seed}:{playlist.id}")
        history: list[TrackSummary] = []
        if split:
            shuffled = rng.sample(tracks, len(tracks))
            history, tracks = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]
        tastes.append(
            Taste(
                playlist=playlist.id,
                tracks=frozenset(track.id for track in tracks),
                artists=frozenset(artist for track in tracks for artist in track.artists),
                revealed=tuple(rng.sample([track.id for track in tracks], REVEALED)),
                history=tuple(history),
            )
        )
    if users > len(tastes):
        raise ValueError(
            f"--users {users} is more than the {len(tastes)} playlists with "
            f"{MIN_PLAYLIST_TRACKS} or more catalog tracks; use fewer users"
        )
    return random.Random(seed).sample(tastes, users)


def history_arms(tastes: Sequence[Taste]) -> tuple[list[Taste], list[Taste]]:
    """The tastes of the members without a history and of those with one (--history):
    alternate members of the drawn order, so the arms are alike and share no playlist."""
    return list(tastes[0::2]), list(tastes[1::2])


async def record_background(
    database: Database,
    known: dict[str, list[TrackSummary]],
    playlists: Sequence[Playlist],
    tastes: Sequence[Taste],
    limit: int | None = None,
) -> tuple[int, int]:
    """Every playlist that is NOT a simulated member's becomes a background member who
    liked its catalog tracks (as `earworm demo` records its history): the listening
    history collaborative models learn co-occurrence from; the first `limit` of them in
    file order when it is given. (members, likes) recorded."""
    from storage.models import FeedbackKind, FeedbackSource
    from storage.repositories.feedback import FeedbackEvent, record_feedback_many

    simulated = {taste.playlist for taste in tastes}
    # Listened to before the simulation starts: older than anything the members do.
    listened = datetime.now(UTC) - timedelta(days=BACKGROUND_AGE_DAYS)
    members = likes = 0
    async with database.sessions() as session:
        for number, playlist in enumerate(playlists):
            tracks = known[playlist.id]
            if playlist.id in simulated or len(tracks) < 2:
                continue
            if limit is not None and members >= limit:
                break
            events = [
                FeedbackEvent(
                    user_id=FIRST_BACKGROUND_MEMBER + number,
                    guild_id=None,
                    track_id=track.id,
                    kind=FeedbackKind.LIKE,
                    source=FeedbackSource.IMPORT,
                    created_at=listened,
                )
                for track in tracks
            ]
            likes += sum(await record_feedback_many(session, events))
            members += 1
        await session.commit()
    return members, likes


async def hold_out_playlists(database: Database, tastes: Sequence[Taste]) -> int:
    """Delete the simulated members' own playlists from the database's playlist rows (see
    the module docstring); returns how many rows went."""
    from storage.repositories.playlists import remove_playlists

    async with database.sessions() as session:
        removed = await remove_playlists(session, [taste.playlist for taste in tastes])
        await session.commit()
    return removed


def history_file(taste: Taste, seed: int) -> tuple[str, bytes, frozenset[str]]:
    """The extended streaming history a history member uploads: streams over the imported
    half of its playlist (favourites more often, some quick skips, no podcasts); its file
    name, bytes and the tracks it plays (a track of the half may come up in no stream)."""
    from storage.history.synthetic import Track, extended_history, simulate_listening

    tracks = [
        Track(t.id, t.name, t.artists[0] if t.artists else "", t.album or "", HISTORY_TRACK_MS)
        for t in taste.history
    ]
    listens = simulate_listening(
        tracks,
        seed=seed,
        count=HISTORY_STREAMS_PER_TRACK * len(tracks),
        podcast_share=0.0,
    )
    played = frozenset(listen.track.id for listen in listens if listen.track is not None)
    return HISTORY_FILE, extended_history(listens), played


# --- the simulation -------------------------------------------------------------------------


def card_of(result: Any) -> discord.Message | None:
    from bot.demo.render import result_messages

    for message in result_messages(result):
        if message.embeds and message.components:
            return message
    return None


async def card_tracks(database: Database, message_id: int) -> list[TrackSummary]:
    """The picks a card holds, in the order it shows them (what the bot stored for it)."""
    from storage.repositories.served import served_for_message
    from storage.repositories.tracks import get_tracks

    async with database.sessions() as session:
        served = sorted(await served_for_message(session, message_id), key=lambda s: s.position)
        found = {t.id: t for t in await get_tracks(session, [s.track_id for s in served])}
    return [found[item.track_id] for item in served if item.track_id in found]


class Simulation:
    """One run against a started SimCord env whose bot is the real one."""

    def __init__(
        self,
        env: Any,
        tastes: list[Taste],
        seed: int,
        say: Say,
        refused: dict[str, Counter[str]],
        *,
        history: bool = False,
    ) -> None:
        self.env = env
        self.refused = refused
        # With --history the history members play tastes of their own (history_arms).
        self.tastes, self.history_tastes = history_arms(tastes) if history else (tastes, [])
        self.say = say
        self.seed = seed
        self.rng = random.Random(seed)
        self.guild = env.create_guild("Simulation")
        self.channel = self.guild.create_text_channel("music")
        admins = self.guild.create_role(
            ADMIN_ROLE, permissions=discord.Permissions(manage_guild=True)
        )
        self.admin = self.guild.add_member(env.create_user("admin"), roles=[admins])
        self.members = [
            self.guild.add_member(env.create_user(f"member{n}")) for n in range(len(self.tastes))
        ]
        self.watchers = [
            self.guild.add_member(env.create_user(f"watcher{n}")) for n in range(len(self.tastes))
        ]
        # With --history: the members who import a history first.
        self.listeners = [
            self.guild.add_member(env.create_user(f"listener{n}"))
            for n in range(len(self.history_tastes))
        ]
        self.likes_given: Counter[str] = Counter()  # card likes, by policy
        # Picks that were tracks of the member's own imported history (should stay 0).
        self.repeated: Counter[str] = Counter()
        self.imported: list[frozenset[str]] = [frozenset() for _ in self.listeners]

    @property
    def database(self) -> Database:
        return self.env.bot.database  # type: ignore[no-any-return]

    async def reveal(self) -> None:
        """Each member's first likes, with /like as a member would (the history members
        too, REVEALED of their own taste's tracks)."""
        arms = ((self.members, self.tastes), (self.listeners, self.history_tastes))
        for members, tastes in arms:
            for member, taste in zip(members, tastes, strict=True):
                for track in taste.revealed:
                    await member.slash(self.channel, "like", track=track)

    async def import_histories(self) -> dict[str, int]:
        """Each history member uploads its history with `/import spotify`, as a member
        would; what the bot stored, read back from its database."""
        from sqlalchemy import func, select

        from storage.models import Track
        from storage.repositories.plays import count_user_plays

        failed = 0
        for number, (member, taste) in enumerate(
            zip(self.listeners, self.history_tastes, strict=True)
        ):
            name, data, self.imported[number] = history_file(taste, self.seed * 100_003 + number)
            result = await member.slash(self.channel, "import spotify", file=(name, data))
            answer = result.response.content if result.response is not None else ""
            if "imported" not in answer:
                failed += 1
                self.say(f"listener{number}: the import was refused: {answer[:120]}")
        plays = 0
        async with self.database.sessions() as session:
            for member in self.listeners:
                plays += await count_user_plays(session, member.id)
            outside = await session.scalar(
                select(func.count()).select_from(Track).where(Track.danceability.is_(None))
            )
        return {
            "members": len(self.listeners) - failed,
            "plays": plays,
            "tracks_outside_catalog": int(outside or 0),
            "refused": failed,
        }

    async def retrain(self) -> str:
        """`/admin retrain model:als`; the line that says how it ended."""
        result = await self.admin.slash(self.channel, "admin retrain", model="als")
        from bot.demo.render import result_messages

        for message in result_messages(result):
            for embed in message.embeds:
                title = embed.title or ""
                if title.startswith("Training"):
                    reason = (embed.description or "").splitlines()
                    return f"{title}: {reason[0]}" if reason else title
        return "no training outcome was posted"

    def _card_or_refusal(self, policy: str, command: str, result: Any) -> discord.Message | None:
        """The card a command answered with; None (counted in `refused`) when the bot
        answered with a polite refusal instead: a cooldown, busy, or another private reply."""
        from bot.bench.load import command_outcome

        card = card_of(result)
        if card is None:
            outcome, _, _ = command_outcome(command, result)
            self.refused[policy]["refused" if outcome == "answered" else outcome] += 1
        return card

    async def earworm_round(self, policy: str = "earworm") -> float:
        """The earworm members' round (or, for `history`, the history members')."""
        members, tastes = (
            (self.listeners, self.history_tastes)
            if policy == HISTORY
            else (self.members, self.tastes)
        )
        liked = shown = 0
        for number, (member, taste) in enumerate(zip(members, tastes, strict=True)):
            result = await member.slash(self.channel, "recommend", count=PICKS)
            card = self._card_or_refusal(policy, "recommend", result)
            if card is None:
                continue
            picks = await card_tracks(self.database, card.id)
            imported = self.imported[number] if policy == HISTORY else frozenset()
            self.repeated[policy] += sum(track.id in imported for track in picks)
            for position, track in enumerate(picks):
                shown += 1
                likes = taste.likes(track)
                if likes:
                    liked += 1
                    await member.click(card, custom_id="earworm:card:like")
                if not likes or position < len(picks) - 1:
                    await member.click(card, custom_id="earworm:card:next")
        self.likes_given[policy] += liked
        return liked / shown if shown else 0.0

    async def trending_round(self) -> float:
        liked = shown = 0
        for watcher, taste in zip(self.watchers, self.tastes, strict=True):
            result = await watcher.slash(self.channel, "trending", scope="global", count=PICKS)
            card = self._card_or_refusal("trending", "trending", result)
            if card is None:
                continue
            picks = await card_tracks(self.database, card.id)
            shown += len(picks)
            liked += sum(taste.likes(track) for track in picks)
        return liked / shown if shown else 0.0

    async def random_round(self, catalog: Sequence[str]) -> float:
        from storage.repositories.tracks import get_tracks

        liked = shown = 0
        async with self.database.sessions() as session:
            for taste in self.tastes:
                picks = await get_tracks(session, self.rng.sample(catalog, PICKS))
                shown += len(picks)
                liked += sum(taste.likes(track) for track in picks)
        return liked / shown if shown else 0.0

    async def stored_feedback(self) -> dict[str, dict[str, int]]:
        from storage.repositories.feedback import feedback_since

        policy_of = {m.id: "earworm" for m in self.members}
        policy_of.update({w.id: "trending" for w in self.watchers})
        policy_of.update({m.id: HISTORY for m in self.listeners})
        async with self.database.sessions() as session:
            records = await feedback_since(session, None)
        counts: dict[str, Counter[str]] = {"earworm": Counter(), "trending": Counter()}
        if self.listeners:
            counts[HISTORY] = Counter()
        for record in records:
            policy = policy_of.get(record.user_id)
            if policy is not None:
                counts[policy][f"{record.kind.value}/{record.source.value}"] += 1
        return {policy: dict(sorted(c.items())) for policy, c in counts.items()}


async def simulate(
    settings: Settings,
    *,
    users: int,
    rounds: int,
    seed: int,
    say: Say,
    background: int | None = None,
    history: bool = False,
) -> SimulationReport:
    """The simulation (module docstring); `history` adds the history members' policy."""
    from bot.composition import database_for
    from storage.repositories.snapshots import catalog_rows

    playlists = await asyncio.to_thread(read_playlists, playlists_path(settings))
    async with database_for(settings) as database:
        known = await catalog_tracks(database, playlists)
        tastes = choose_tastes(known, playlists, users, seed, split=history)
        held_out = await hold_out_playlists(database, tastes)
        listened = await record_background(database, known, playlists, tastes, background)
        async with database.sessions() as session:
            catalog = list((await catalog_rows(session)).ids)
    # Imported only now: importing the bot makes discord.py log about the simulated
    # gateway, which would spoil a one-line error about the input above.
    from simcord import Env

    from bot.app import create_bot
    from bot.demo.session import unexpected_errors

    bot = create_bot(settings)
    # Training runs in a child process inside /admin retrain: give each step time to finish.
    env = Env(bot, settle_timeout=600)
    await env.start()
    report = SimulationReport(
        users=users,
        rounds=rounds,
        seed=seed,
        background=listened,
        held_out_playlist_rows=held_out,
    )
    if history:
        report.rates[HISTORY] = []
        report.refused[HISTORY] = Counter()
    say(f"background: {listened[0]} other playlists as listeners with {listened[1]:,} likes")
    say(f"held out: the members' own playlists ({held_out:,} playlist rows deleted)")
    try:
        sim = Simulation(env, tastes, seed, say, report.refused, history=history)
        if history:
            say(
                f"{len(sim.listeners)} history members import a history of half their "
                f"playlist; {len(sim.members)} members have none ..."
            )
            report.history = await sim.import_histories()
            say(f"imported: {report.history['plays']:,} plays")
        say(f"{len(sim.members) + len(sim.listeners)} members reveal {REVEALED} likes each ...")
        await sim.reveal()
        for round_ in range(1, rounds + 1):
            if round_ > 1:
                await env.advance_time(ROUND_GAP_SECONDS)
            say(f"round {round_}/{rounds}: retraining ALS ...")
            started = time.perf_counter()
            report.training.append(f"before round {round_}: {await sim.retrain()}")
            trained = time.perf_counter()
            say(f"{report.training[-1]} ({trained - started:.0f} s)")
            say(f"round {round_}/{rounds}: members judge their picks ...")
            report.rates["earworm"].append(await sim.earworm_round())
            if history:
                report.rates[HISTORY].append(await sim.earworm_round(HISTORY))
            report.rates["trending"].append(await sim.trending_round())
            report.rates["random"].append(await sim.random_round(catalog))
            report.seconds.append(
                {"training": trained - started, "picks": time.perf_counter() - trained}
            )
            say(f"round {round_}/{rounds}: {report.seconds[-1]['picks']:.0f} s of picks")
        report.stored = await sim.stored_feedback()
        report.earworm_likes = sim.likes_given["earworm"]
        if report.history is not None:
            report.history["card_likes"] = sim.likes_given[HISTORY]
            report.history["picks_from_own_history"] = sim.repeated[HISTORY]
    finally:
        await env.shutdown()
    bugs = unexpected_errors(env.errors)
    if bugs:
        raise RuntimeError(f"the bot failed during the simulation: {bugs[0]!r}")
    return report


# --- output ---------------------------------------------------------------------------------


def print_table(report: SimulationReport) -> None:
    click.echo(
        f"like-rate per round ({report.users} members, {PICKS} picks each, seed {report.seed})"
    )
    header = "".join(f"{f'round {n}':>10}" for n in range(1, report.rounds + 1))
    click.echo(f"{'policy':10}{header}")
    for policy, rates in report.rates.items():
        click.echo(f"{policy:10}" + "".join(f"{rate:>10.3f}" for rate in rates))
    if report.history is not None:
        click.echo(
            f"history: {report.history['members']} members imported "
            f"{report.history['plays']:,} plays before round 1 (policy {HISTORY!r})"
        )
    for line in report.training:
        click.echo(f"training {line}")
    for policy, outcomes in report.refused.items():
        if outcomes:
            counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
            click.echo(f"refused ({policy}): {counts}")


def plot(report: SimulationReport, path: Path) -> None:
    """A PNG line chart of the like-rate per round, one line per policy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rounds = list(range(1, report.rounds + 1))
    for policy, rates in report.rates.items():
        axes.plot(rounds, rates, marker="o", label=policy)
    axes.set_xlabel("round")
    axes.set_ylabel("like-rate")
    axes.set_xticks(rounds)
    axes.set_ylim(bottom=0)
    axes.set_title(f"Closed-loop simulation: {report.users} members, seed {report.seed}")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
