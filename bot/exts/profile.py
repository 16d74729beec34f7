"""/profile (a member's taste: top genres, artists and a radar chart of their sound) and
/taste (how alike two members' tastes are)."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.exts._checks import heavy_command
from bot.serving.charts import radar_chart
from bot.serving.taste import ARTIST_WEIGHT, GENRE_WEIGHT, TasteMatch, compare
from bot.ui.cards import escape
from storage.repositories.profiles import (
    PROFILE_FEATURES,
    MemberTaste,
    guild_features,
    member_taste,
)

if TYPE_CHECKING:
    from bot.app import EarwormBot

COLOR = discord.Colour(0x1DB954)
TOP = 5
CHART_FILE = "taste.png"
MAX_NAME = 60  # a genre or artist as listed; catalog names can be very long
MemberOrUser = discord.Member | discord.User


def shown(text: str, limit: int = MAX_NAME) -> str:
    """Catalog or member text made safe to echo: no markdown, no pings, bounded length."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape(text)


def ranked(counts: list[tuple[str, int]]) -> str:
    return "\n".join(
        f"{place}. {shown(name)} · {count}" for place, (name, count) in enumerate(counts, 1)
    )


def no_likes_hint(user: MemberOrUser, caller: MemberOrUser) -> str:
    if user.id == caller.id:
        return (
            "You haven't liked any songs yet. Try `/recommend` and react 👍 on the ones "
            "you like, then come back!"
        )
    return (
        f"{shown(user.display_name)} hasn't liked any songs yet. Once they react 👍 on a few "
        "recommendations, their profile shows up here."
    )


def refuse_bots(user: MemberOrUser) -> None:
    if user.bot:
        raise UserFacingError("Bots don't have a taste in music (yet)! Pick a member instead.")


def profile_embed(
    user: MemberOrUser, taste: MemberTaste, *, compared_to_server: bool
) -> discord.Embed:
    name = shown(user.display_name)
    embed = discord.Embed(
        title=f"🎧 {name}'s taste",
        description=(
            f"Built from **{taste.liked}** liked song{'s' if taste.liked != 1 else ''} · "
            f"👎 {taste.disliked} disliked · ⏭️ {taste.skipped} skipped"
        ),
        color=COLOR,
    )
    embed.add_field(name="Top genres", value=ranked(taste.top_genres(TOP)) or "—", inline=True)
    embed.add_field(name="Top artists", value=ranked(taste.top_artists(TOP)) or "—", inline=True)
    embed.set_image(url=f"attachment://{CHART_FILE}")
    versus = " against this server's likes" if compared_to_server else ""
    embed.set_footer(text=f"The chart: the average sound of the songs they like{versus}.")
    return embed


def match_verdict(score: float) -> str:
    if score >= 80:
        return "Musical soulmates! 🎶"
    if score >= 60:
        return "Very alike."
    if score >= 40:
        return "Plenty of common ground."
    if score >= 20:
        return "A few things in common."
    return "Opposites attract? Swap some recommendations!"


def match_bar(score: float, width: int = 10) -> str:
    filled = round(score / 100 * width)
    return "🟩" * filled + "⬜" * (width - filled)


def taste_embed(caller: MemberOrUser, other: MemberOrUser, match: TasteMatch) -> discord.Embed:
    embed = discord.Embed(
        title=f"🎧 {shown(caller.display_name)} × {shown(other.display_name)}",
        description=(
            f"**{match.score:.0f} %** taste match\n{match_bar(match.score)}\n"
            f"{match_verdict(match.score)}"
        ),
        color=COLOR,
    )
    embed.add_field(
        name="Shared artists",
        value=", ".join(shown(name) for name in match.shared_artists) or "None yet",
        inline=False,
    )
    embed.add_field(
        name="Shared genres",
        value=", ".join(shown(name) for name in match.shared_genres) or "None yet",
        inline=False,
    )
    if match.shared_tracks:
        songs = f"song{'s' if match.shared_tracks != 1 else ''}"
        embed.add_field(
            name="Same songs", value=f"You both like {match.shared_tracks} {songs}.", inline=False
        )
    embed.set_footer(
        text=(
            f"Score: how alike the genres ({GENRE_WEIGHT:.0%}) and artists "
            f"({ARTIST_WEIGHT:.0%}) you each like are (cosine similarity)."
        )
    )
    return embed


class Profiles(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @heavy_command  # the radar chart takes a few hundred milliseconds of CPU
    @app_commands.command(
        name="profile", description="A member's taste: top genres, artists and sound"
    )
    @app_commands.describe(member="Whose profile to show (default: yours)")
    async def profile(
        self, interaction: discord.Interaction, member: MemberOrUser | None = None
    ) -> None:
        user = member or interaction.user
        refuse_bots(user)
        guild_id = interaction.guild_id
        async with self.bot.database.sessions() as session:
            taste = await member_taste(session, user.id)
            server = await guild_features(session, guild_id) if guild_id and taste.liked else {}
        if not taste.liked:
            raise UserFacingError(no_likes_hint(user, interaction.user))

        # The chart takes a few hundred milliseconds: acknowledge first.
        await interaction.response.defer(thinking=True)
        png = await asyncio.to_thread(
            radar_chart,
            PROFILE_FEATURES,
            taste.features,
            member_label=user.display_name,
            server=server or None,
            server_label="This server",
        )
        await interaction.followup.send(
            embed=profile_embed(user, taste, compared_to_server=bool(server)),
            file=discord.File(io.BytesIO(png), filename=CHART_FILE),
        )

    @app_commands.command(name="taste", description="How alike your taste is to another member's")
    @app_commands.describe(member="The member to compare tastes with")
    async def taste(self, interaction: discord.Interaction, member: MemberOrUser) -> None:
        caller = interaction.user
        if member.id == caller.id:
            raise UserFacingError(
                "That's you: a perfect match, every time! Pick another member to compare with."
            )
        refuse_bots(member)
        async with self.bot.database.sessions() as session:
            mine = await member_taste(session, caller.id)
            theirs = await member_taste(session, member.id)
        if not mine.liked:
            raise UserFacingError(no_likes_hint(caller, caller))
        if not theirs.liked:
            raise UserFacingError(no_likes_hint(member, caller))
        await interaction.response.send_message(
            embed=taste_embed(caller, member, compare(mine, theirs, top=TOP))
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Profiles(bot))
