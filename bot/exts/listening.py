"""/listening: members who opt in let Earworm record the songs Discord shows them playing on
Spotify; each becomes a play (implicit feedback, like an imported history).

Only with EARWORM_LISTENING=on does the bot ask Discord for presences (and members, without
which no presence arrives): both are privileged intents. Presence updates come for everyone
the bot shares a server with, often, so `on_presence_update` first looks the member up in an
in-memory set of those who opted in (loaded at start, kept by /listening and /forget-me) and
returns at once for anyone else: nobody else's activity is looked at, logged or stored.

For an opted-in member, Discord's Spotify activity names the track (its Spotify id, title,
artists, album) and when it started and ends. When the member moves on (another track, the
same track again from the start, or no Spotify at all) the play that ended is recorded with
`ms_played = min(now, end) - start`; a play under 30 s is left out (a skip, a flick through
a playlist). A pause or seek within a track is the same play. A track the catalog lacks is
added as a track outside the catalog (title, artists, album; no audio features).

A member in several servers with the bot gets one presence update per server: only the first
records the play (the others see it continue or already recorded). `played_at` is when the
play started, which every copy agrees on, so even several shard processes store it once.
Writes go through the feedback writer and check the opt-in inside the transaction, so a
member who turned listening off (or ran /forget-me) meanwhile gets nothing stored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import WriterBusyError
from storage.models import PlaySource
from storage.repositories.plays import (
    FULL_PLAY_MS,
    OutsideTrack,
    PlayInput,
    add_tracks_outside_catalog,
    listening_enabled_since,
    listening_user_ids,
    record_plays,
    set_listening,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.app import EarwormBot

log = logging.getLogger(__name__)

TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")
# A track that starts again within this much of its end is played again (repeat), not
# resumed: a new play.
REPEAT_SLACK = timedelta(seconds=5)
NOT_ENABLED = (
    "Listening capture is not enabled on this bot: its operator has not turned it on "
    "(EARWORM_LISTENING), so I can't see what you play. You can still import your history "
    "with `/import spotify` or `/import lastfm`."
)
TURNED_ON = (
    "🎧 Listening is **on**. While your Discord status shows what you play on Spotify "
    "(Discord Settings → Connections → Spotify → Display Spotify as your status) and we share "
    "a server, I record each song you play for 30 s or more, to learn your taste. "
    "Only yours, only songs. Turn it off with `/listening state:off`; `/forget-me` deletes "
    "everything."
)
ALREADY_ON = "🎧 Listening is already **on**. Turn it off with `/listening state:off`."
TURNED_OFF = (
    "Listening is **off**: I no longer record what you play. The plays already recorded stay "
    "and keep shaping your picks; `/forget-me` deletes everything I hold about you."
)
ALREADY_OFF = "Listening is already **off**. Turn it on with `/listening state:on`."


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """A Spotify track a member's presence shows, and when it started and ends."""

    track_id: str
    title: str
    artists: tuple[str, ...]
    album: str | None
    start: datetime
    end: datetime

    @property
    def key(self) -> tuple[str, datetime]:
        return self.track_id, self.start

    def continued_by(self, later: NowPlaying) -> bool:
        """Whether `later` is this play going on (a pause, a seek, another server's copy),
        not a new play of the same track."""
        return later.track_id == self.track_id and later.start < self.end - REPEAT_SLACK


def now_playing(member: discord.Member | discord.User) -> NowPlaying | None:
    """The Spotify track `member`'s presence shows, if any (with its times)."""
    for activity in getattr(member, "activities", ()):
        if not isinstance(activity, discord.Spotify):
            continue
        try:
            start, end = activity.start, activity.end
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            return None  # no times: nothing to measure a play by
        if not TRACK_ID.fullmatch(activity.track_id or "") or end <= start:
            return None
        artists = tuple(name for name in activity.artists if name)
        return NowPlaying(
            activity.track_id, activity.title, artists, activity.album or None, start, end
        )
    return None


class Listening(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        # Members who opted in: the only ones whose presence is looked at.
        self.opted_in: set[int] = set()
        # Per opted-in member: the play in progress, and the last play recorded (or left
        # out), so another server's copy of the same change records nothing.
        self._playing: dict[int, NowPlaying] = {}
        self._finished: dict[int, tuple[str, datetime]] = {}

    async def cog_load(self) -> None:
        async with self.bot.database.sessions() as session:
            self.opted_in = set(await listening_user_ids(session))
        if self.opted_in and not self.bot.settings.listening:
            log.info(
                "%d member(s) opted in to listening, but EARWORM_LISTENING is off: "
                "nothing is recorded",
                len(self.opted_in),
            )

    def forget_member(self, user_id: int) -> None:
        """The privacy hook /forget-me calls before deleting the member's data."""
        self.opted_in.discard(user_id)
        self._playing.pop(user_id, None)
        self._finished.pop(user_id, None)

    @app_commands.command(
        name="listening", description="Let Earworm learn from the songs you play on Spotify"
    )
    @app_commands.describe(state="on: record the songs your Discord status shows; off: stop")
    async def listening(
        self, interaction: discord.Interaction, state: Literal["on", "off"]
    ) -> None:
        user_id = interaction.user.id
        if state == "on":
            if not self.bot.settings.listening:
                await interaction.response.send_message(NOT_ENABLED, ephemeral=True)
                return
            changed = await self.bot.writer.run(
                lambda session: set_listening(session, user_id, True)
            )
            self.opted_in.add(user_id)
            text = TURNED_ON if changed else ALREADY_ON
        else:
            self.forget_member(user_id)  # stop at once, before the write
            changed = await self.bot.writer.run(
                lambda session: set_listening(session, user_id, False)
            )
            text = TURNED_OFF if changed else ALREADY_OFF
        log.info("user %s turned listening %s", user_id, state)
        await interaction.response.send_message(text, ephemeral=True)

    @commands.Cog.listener()
    async def on_presence_update(self, before: discord.Member, after: discord.Member) -> None:
        user_id = after.id
        if user_id not in self.opted_in:
            return  # someone who did not opt in: not even looked at
        current = now_playing(after)
        previous = self._playing.get(user_id) or now_playing(before)
        if current is not None:
            if previous is not None and previous.continued_by(current):
                self._playing[user_id] = replace(previous, end=max(previous.end, current.end))
                return
            self._playing[user_id] = current
        else:
            self._playing.pop(user_id, None)
        if previous is None or self._finished.get(user_id) == previous.key:
            return
        self._finished[user_id] = previous.key
        ended = min(discord.utils.utcnow(), previous.end)
        ms_played = int((ended - previous.start).total_seconds() * 1000)
        if ms_played < FULL_PLAY_MS:
            return
        skipped = ended < previous.end - REPEAT_SLACK  # moved on before the end
        try:
            stored = await self.bot.writer.run(
                lambda session: record_listened(session, user_id, previous, ms_played, skipped)
            )
        except WriterBusyError:
            log.warning("feedback queue full: a listened play was not stored")
            return
        if stored:
            self.bot.engine.feedback_changed(user_id)


async def record_listened(
    session: AsyncSession, user_id: int, play: NowPlaying, ms_played: int, skipped: bool
) -> bool:
    """Store one listened play if the member is still opted in; whether it was new."""
    if await listening_enabled_since(session, user_id) is None:
        return False
    if play.artists:
        await add_tracks_outside_catalog(
            session, [OutsideTrack(play.track_id, play.title, play.artists, play.album)]
        )
    written = await record_plays(
        session,
        user_id,
        [
            PlayInput(
                track_id=play.track_id,
                played_at=play.start,
                ms_played=ms_played,
                skipped=skipped,
                source=PlaySource.LISTENING,
            )
        ],
    )
    return written.new > 0


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Listening(bot))
