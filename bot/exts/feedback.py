"""Feedback: reactions and buttons on cards, /like, /dislike, /rate and /history (which
also lists the songs a member played: imported with /import or recorded with /listening).

Reactions arrive as raw gateway events, so they count without the message cache and after
restarts; a card's picks come from the CardIndex (memory first, then the database), which
keeps the work per reaction to the one feedback write.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import WriterBusyError
from bot.ui.cards import (
    CardButton,
    card_index,
    database_of,
    drop_card_feedback,
    escape,
    reaction_kind,
    save_feedback,
)
from bot.ui.guard import GuardedView
from bot.ui.tracks import resolve_track, track_autocomplete
from storage.dto import TrackSummary
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import (
    FeedbackEvent,
    FeedbackRecord,
    count_user_feedback,
    user_feedback,
)
from storage.repositories.plays import TrackPlayCounts, play_counts_for_user
from storage.repositories.tracks import get_tracks

if TYPE_CHECKING:
    from bot.app import EarwormBot

log = logging.getLogger(__name__)

HISTORY_PAGE = 10
HISTORY_TIMEOUT = 600.0
# Feedback rows read per query while paging (storage reads at most 100 at a time).
FEEDBACK_CHUNK = 100
NO_HISTORY = (
    "You haven't told me what you think of any song yet. "
    "React 👍 on a card from `/recommend`, or use `/like`. "
    "Or bring your listening: `/import spotify` or `/import lastfm`."
)
_HISTORY_ICONS = {
    FeedbackKind.LIKE: ("👍", "liked"),
    FeedbackKind.LOVE: ("❤️", "loved"),
    FeedbackKind.DISLIKE: ("👎", "disliked"),
    FeedbackKind.SKIP: ("⏭️", "skipped"),
}
_SOURCES = {
    FeedbackSource.REACTION: "reaction",
    FeedbackSource.BUTTON: "button",
    FeedbackSource.COMMAND: "command",
    FeedbackSource.IMPORT: "import",
}


def star_bar(count: int) -> str:
    return "★" * count + "☆" * (5 - count)


def track_label(track: TrackSummary) -> str:
    return f"**{escape(track.name)}** — {escape(', '.join(track.artists))}"


def history_line(record: FeedbackRecord, tracks: dict[str, TrackSummary]) -> str:
    track = tracks.get(record.track_id)
    label = track_label(track) if track else "a song no longer in the catalog"
    if record.kind is FeedbackKind.RATING:
        icon, verb = "⭐", f"rated {record.value}/5"
    else:
        icon, verb = _HISTORY_ICONS[record.kind]
    when = discord.utils.format_dt(record.created_at, "R")
    return f"{icon} {verb} {label} · {_SOURCES[record.source]} · {when}"


def play_line(counts: TrackPlayCounts, tracks: dict[str, TrackSummary]) -> str:
    """A song the member played (imported or recorded), all its plays on one line."""
    track = tracks.get(counts.track_id)
    label = track_label(track) if track else "a song no longer in the catalog"
    when = discord.utils.format_dt(counts.last_played, "R")
    if counts.plays:
        return f"▶️ played {label} · {counts.plays}× · {when}"
    if counts.skips:
        return f"⏩ skipped {label} · {counts.skips}× · {when}"
    return f"▶️ played {label} briefly · {when}"


HistoryEntry = FeedbackRecord | TrackPlayCounts


def _entry_time(entry: HistoryEntry) -> datetime:
    return entry.created_at if isinstance(entry, FeedbackRecord) else entry.last_played


async def history_page(
    client: discord.Client, user_id: int, page: int
) -> tuple[discord.Embed, int] | None:
    """Page `page` (0 first) of the member's feedback and played songs, newest first and
    interleaved (a played song counts once, at its last play), and the number of pages;
    None when there is neither."""
    async with database_of(client).sessions() as session:
        feedback_total = await count_user_feedback(session, user_id)
        played = await play_counts_for_user(session, user_id)
        total = feedback_total + len(played)
        if total == 0:
            return None
        pages = math.ceil(total / HISTORY_PAGE)
        page = min(max(page, 0), pages - 1)
        wanted = (page + 1) * HISTORY_PAGE
        records: list[FeedbackRecord] = []
        while len(records) < min(wanted, feedback_total):
            chunk = await user_feedback(session, user_id, limit=FEEDBACK_CHUNK, offset=len(records))
            if not chunk:
                break
            records += chunk
        played.sort(key=lambda counts: counts.last_played, reverse=True)
        timeline: list[HistoryEntry] = [*records[:wanted], *played[:wanted]]
        timeline.sort(key=_entry_time, reverse=True)  # stable: feedback first on a tie
        shown = timeline[page * HISTORY_PAGE : wanted]
        found = await get_tracks(session, [entry.track_id for entry in shown])
    tracks = {track.id: track for track in found}
    lines = [
        history_line(entry, tracks)
        if isinstance(entry, FeedbackRecord)
        else play_line(entry, tracks)
        for entry in shown
    ]
    embed = discord.Embed(
        title="Your feedback and plays" if played else "Your feedback",
        description="\n".join(lines),
        colour=discord.Colour.blurple(),
    )
    counted = (
        f"{feedback_total} feedback · {len(played)} songs played" if played else f"{total} in all"
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} · {counted}")
    return embed, pages


class HistoryPages(GuardedView):
    """Previous/next through /history; only the member who asked can turn the pages."""

    def __init__(self, owner_id: int, page: int, pages: int) -> None:
        super().__init__(timeout=HISTORY_TIMEOUT)
        self.owner_id = owner_id
        self.page = page
        self.pages = pages
        self._refresh()

    def _refresh(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These pages are someone else's. Run `/history` to see yours.", ephemeral=True
        )
        return False

    async def _turn(self, interaction: discord.Interaction, page: int) -> None:
        shown = await history_page(interaction.client, self.owner_id, page)
        if shown is None:  # everything was deleted meanwhile (/forget-me)
            await interaction.response.edit_message(content=NO_HISTORY, embed=None, view=None)
            return
        embed, self.pages = shown
        self.page = min(max(page, 0), self.pages - 1)
        self._refresh()
        await interaction.response.edit_message(embed=embed, view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction, _button: discord.ui.Button[HistoryPages]
    ) -> None:
        await self._turn(interaction, self.page - 1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(
        self, interaction: discord.Interaction, _button: discord.ui.Button[HistoryPages]
    ) -> None:
        await self._turn(interaction, self.page + 1)


class Feedback(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    # ---------------------------------------------------------------- reactions

    def _is_ours(self, user_id: int) -> bool:
        return self.bot.user is not None and user_id == self.bot.user.id

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        kind = reaction_kind(payload.emoji.name) if payload.emoji.is_unicode_emoji() else None
        if kind is None or self._is_ours(payload.user_id):
            return
        if payload.member is not None and payload.member.bot:
            return
        card = await card_index(self.bot).get(self.bot, payload.message_id)
        if card is None:
            return
        event = FeedbackEvent(
            user_id=payload.user_id,
            guild_id=payload.guild_id,
            track_id=card.current.track_id,
            kind=kind,
            source=FeedbackSource.REACTION,
            message_id=payload.message_id,
        )
        try:
            await save_feedback(self.bot, event)
        except WriterBusyError:
            # A reaction has no reply to carry "try again": say it in the log, once.
            log.warning("feedback queue full: a %s reaction was not stored", kind.value)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        kind = reaction_kind(payload.emoji.name) if payload.emoji.is_unicode_emoji() else None
        if kind is None or self._is_ours(payload.user_id):
            return
        card = await card_index(self.bot).get(self.bot, payload.message_id)
        if card is None:
            return
        try:
            await drop_card_feedback(self.bot, payload.user_id, card, kind, FeedbackSource.REACTION)
        except WriterBusyError:
            log.warning("feedback queue full: a removed %s reaction was not applied", kind.value)

    # ------------------------------------------------------------------ commands

    async def _opinion(
        self,
        interaction: discord.Interaction,
        track_value: str,
        kind: FeedbackKind,
        value: int | None = None,
    ) -> tuple[TrackSummary, bool]:
        track = await resolve_track(interaction, track_value)
        changed = await save_feedback(
            self.bot,
            FeedbackEvent(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                track_id=track.id,
                kind=kind,
                source=FeedbackSource.COMMAND,
                value=value,
            ),
        )
        return track, changed

    @app_commands.command(name="like", description="Tell Earworm you like a song")
    @app_commands.describe(track="The song: start typing its name or artist")
    @app_commands.autocomplete(track=track_autocomplete)
    async def like(self, interaction: discord.Interaction, track: str) -> None:
        song, changed = await self._opinion(interaction, track, FeedbackKind.LIKE)
        text = (
            f"Saved: you like {track_label(song)}. `/recommend` learns from it."
            if changed
            else f"You already told me you like {track_label(song)}."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="dislike", description="Tell Earworm a song is not for you")
    @app_commands.describe(track="The song: start typing its name or artist")
    @app_commands.autocomplete(track=track_autocomplete)
    async def dislike(self, interaction: discord.Interaction, track: str) -> None:
        song, changed = await self._opinion(interaction, track, FeedbackKind.DISLIKE)
        text = (
            f"Saved: {track_label(song)} is not for you. `/recommend` will show less like it."
            if changed
            else f"You already told me {track_label(song)} is not for you."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="rate", description="Rate a song from 1 to 5 stars")
    @app_commands.describe(track="The song: start typing its name or artist", stars="1 to 5")
    @app_commands.autocomplete(track=track_autocomplete)
    async def rate(
        self,
        interaction: discord.Interaction,
        track: str,
        stars: app_commands.Range[int, 1, 5],
    ) -> None:
        song, changed = await self._opinion(interaction, track, FeedbackKind.RATING, stars)
        shown = f"{star_bar(stars)} ({stars}/5)"
        text = (
            f"Saved: you rate {track_label(song)} {shown}. `/recommend` learns from it."
            if changed
            else f"You already rated {track_label(song)} {shown}."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(
        name="history", description="What you've told Earworm and played, newest first"
    )
    async def history(self, interaction: discord.Interaction) -> None:
        shown = await history_page(self.bot, interaction.user.id, 0)
        if shown is None:
            await interaction.response.send_message(NO_HISTORY, ephemeral=True)
            return
        embed, pages = shown
        view = HistoryPages(interaction.user.id, 0, pages) if pages > 1 else discord.utils.MISSING
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


async def setup(bot: EarwormBot) -> None:
    # Card buttons match on their custom id alone, on any message, also after a restart.
    bot.add_dynamic_items(CardButton)
    await bot.add_cog(Feedback(bot))
