"""The commands that show recommendation cards: /recommend, /similar, /mix, /artist,
/trending.

Options are checked before deferring (a wrong genre or track is answered privately);
then the engine is asked (off the event loop, inside) and the answer is a card. All four
share one per-member cooldown (bot/serving/cooldowns.py); the engine bounds model calls bot-wide.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.exts._checks import heavy_command
from bot.serving.engine import EMPTY_CATALOG
from bot.serving.picks import PickList
from bot.ui.cards import album_art, clip, database_of, escape, send_card
from bot.ui.tracks import MAX_CHOICE_TEXT, MAX_CHOICES, resolve_track, track_autocomplete
from storage.repositories.genres import GenreCount, find_genre, genres_by_size

if TYPE_CHECKING:
    from bot.app import EarwormBot

DEFAULT_COUNT = 5
# Genres change only with a catalog import; re-read them now and then, not per keystroke.
GENRE_CACHE_SECONDS = 300.0

Count = app_commands.Range[int, 1, 10]


class GenreChoices:
    """The catalog's genres in memory, for instant autocomplete."""

    def __init__(self, max_age: float = GENRE_CACHE_SECONDS) -> None:
        self.max_age = max_age
        self._genres: list[GenreCount] = []
        self._loaded_at = float("-inf")

    async def genres(self, client: discord.Client) -> list[GenreCount]:
        # None yet (an empty catalog) is not worth keeping: one may be imported any time.
        if not self._genres or time.monotonic() - self._loaded_at > self.max_age:
            async with database_of(client).sessions() as session:
                self._genres = await genres_by_size(session)
            self._loaded_at = time.monotonic()
        return self._genres

    async def choices(self, client: discord.Client, typed: str) -> list[app_commands.Choice[str]]:
        """Genres starting with what was typed, then those containing it; the biggest
        genres first (all of them, by size, before anything is typed)."""
        text = typed.strip().lower()
        genres = await self.genres(client)
        starting = [genre for genre in genres if genre.name.lower().startswith(text)]
        containing = [
            genre
            for genre in genres
            if text in genre.name.lower() and not genre.name.lower().startswith(text)
        ]
        return [
            app_commands.Choice(name=genre.name[:MAX_CHOICE_TEXT], value=genre.name)
            for genre in (starting + containing)[:MAX_CHOICES]
        ]


class Discover(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self.genre_choices = GenreChoices()

    async def genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.genre_choices.choices(interaction.client, current)

    async def _require_catalog(self) -> None:
        """Say so, privately and before deferring, when there is no catalog to pick from
        (rather than "unknown genre" or "no such track")."""
        engine = self.bot.engine
        if engine.serving is None:
            await engine.reload()  # a catalog imported since start-up is served from now on
            if engine.serving is None:
                raise UserFacingError(EMPTY_CATALOG)

    def _model_call_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """A model-call slot held from before "thinking…" until the picks are scored: a
        bot at its limit says so privately before deferring (after a public "thinking…"
        an answer can no longer be private), and never after."""
        return self.bot.engine.model_calls.reserved()

    async def _genre(self, typed: str | None) -> str | None:
        """The catalog's spelling of the genre option, or UserFacingError."""
        if typed is None or not typed.strip():
            return None
        async with database_of(self.bot).sessions() as session:
            genre = await find_genre(session, typed)
        if genre is None:
            shown = escape(typed.strip()[:50])
            raise UserFacingError(
                f"I don't know the genre “{shown}”. Start typing and pick one from the list."
            )
        return genre

    async def _show(self, interaction: discord.Interaction, picks: PickList) -> None:
        art = await album_art(self.bot, picks.picks[0].track.id) if picks.picks else None
        await send_card(interaction, picks, art)

    @heavy_command
    @app_commands.command(name="recommend", description="Songs picked for you")
    @app_commands.describe(count="How many picks (1-10)", genre="Only songs of this genre")
    async def recommend(
        self,
        interaction: discord.Interaction,
        count: Count = DEFAULT_COUNT,
        genre: str | None = None,
    ) -> None:
        await self._require_catalog()
        chosen = await self._genre(genre)
        async with self._model_call_slot():
            with self.bot.timings.span("stage recommend-defer"):
                await interaction.response.defer(thinking=True)
            with self.bot.timings.span("stage recommend-engine"):
                picks = await self.bot.engine.recommend(
                    interaction.user.id, interaction.guild_id, count, chosen
                )
        await self._show(interaction, picks)

    @heavy_command
    @app_commands.command(
        name="similar", description="Songs like a song: its style, then its sound"
    )
    @app_commands.describe(
        track="The song: start typing its name or artist",
        mode="normal: genres, era, artists, then sound; sound: how it sounds; genre: same genres",
        count="How many picks (1-10)",
    )
    @app_commands.autocomplete(track=track_autocomplete)
    async def similar(
        self,
        interaction: discord.Interaction,
        track: str,
        mode: Literal["normal", "sound", "genre"] = "normal",
        count: Count = DEFAULT_COUNT,
    ) -> None:
        await self._require_catalog()
        seed = await resolve_track(interaction, track)
        async with self._model_call_slot():
            await interaction.response.defer(thinking=True)
            picks = await self.bot.engine.similar(seed.id, mode, count)
        await self._show(interaction, picks)

    @heavy_command
    @app_commands.command(name="mix", description="A blend of up to five songs")
    @app_commands.describe(
        track1="A song: start typing its name or artist",
        track2="Another song (optional)",
        track3="Another song (optional)",
        track4="Another song (optional)",
        track5="Another song (optional)",
        count="How many picks (1-10)",
    )
    @app_commands.autocomplete(
        track1=track_autocomplete,
        track2=track_autocomplete,
        track3=track_autocomplete,
        track4=track_autocomplete,
        track5=track_autocomplete,
    )
    async def mix(
        self,
        interaction: discord.Interaction,
        track1: str,
        track2: str | None = None,
        track3: str | None = None,
        track4: str | None = None,
        track5: str | None = None,
        count: Count = DEFAULT_COUNT,
    ) -> None:
        await self._require_catalog()
        typed = [value for value in (track1, track2, track3, track4, track5) if value]
        seeds = [(await resolve_track(interaction, value)).id for value in typed]
        async with self._model_call_slot():
            await interaction.response.defer(thinking=True)
            picks = await self.bot.engine.mix(list(dict.fromkeys(seeds)), count)
        await self._show(interaction, picks)

    @heavy_command
    @app_commands.command(name="artist", description="Artists like an artist, and a song of each")
    @app_commands.describe(
        name="The artist: start typing and pick one from the list",
        count="How many artists (1-10)",
    )
    async def artist(
        self, interaction: discord.Interaction, name: str, count: Count = DEFAULT_COUNT
    ) -> None:
        await self._require_catalog()
        engine = self.bot.engine
        found = engine.find_artist(name)
        if found is None:
            raise UserFacingError(self._unknown_artist(name))
        async with self._model_call_slot():
            await interaction.response.defer(thinking=True)
            picks = await engine.artist(found, count)
        await self._show(interaction, picks)

    def _unknown_artist(self, typed: str) -> str:
        shown = escape(typed.strip()[:50])
        lead = f"I don't know the artist “{shown}”." if shown else "I don't know that artist."
        close = self.bot.engine.artist_suggestions(typed, 3) if typed.strip() else []
        names = ", ".join(escape(clip(name, 40)) for name in close)
        hint = f" Did you mean: {names}?" if names else ""
        return f"{lead}{hint} Start typing the name and pick one from the list."

    @artist.autocomplete("name")
    async def _artist_name(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Catalog artists matching what was typed, from memory (no database)."""
        return [
            app_commands.Choice(name=name[:MAX_CHOICE_TEXT], value=name[:MAX_CHOICE_TEXT])
            for name in self.bot.engine.artist_choices(current, MAX_CHOICES)
        ]

    @heavy_command
    @app_commands.command(name="trending", description="What's popular here or everywhere")
    @app_commands.describe(
        scope="server: this server's recent likes; global: everyone's",
        genre="Only songs of this genre",
        count="How many picks (1-10)",
    )
    async def trending(
        self,
        interaction: discord.Interaction,
        scope: Literal["server", "global"] | None = None,
        genre: str | None = None,
        count: Count = DEFAULT_COUNT,
    ) -> None:
        if scope == "server" and interaction.guild_id is None:
            raise UserFacingError(
                "A DM has no server chart. Run `/trending` in a server, or use scope: global."
            )
        await self._require_catalog()
        chosen = await self._genre(genre)
        # A DM has no server: there the chart is everyone's.
        where = scope or ("server" if interaction.guild_id is not None else "global")
        async with self._model_call_slot():
            await interaction.response.defer(thinking=True)
            picks = await self.bot.engine.trending(interaction.guild_id, where, chosen, count)
        await self._show(interaction, picks)

    @recommend.autocomplete("genre")
    async def _recommend_genre(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.genre_autocomplete(interaction, current)

    @trending.autocomplete("genre")
    async def _trending_genre(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.genre_autocomplete(interaction, current)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Discover(bot))
