"""/help: every slash command the member can use here, read from the command tree itself so
the list is never out of date."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.app import EarwormBot


COLOR = discord.Colour(0x1DB954)
FIELD_LIMIT = 1024
REACTIONS = (
    "**On a recommendation card**, react 👍 like · ❤️ love · 👎 dislike · ⏭️ skip (or press its "
    "buttons). Anyone's reaction counts for them, and removing it takes it back."
)
# What is stored about a member and why (bot/exts/privacy.py deletes and exports it).
STORED = (
    "**What I keep about you**, to learn your taste: your reactions, likes and ratings, the "
    "cards shown to you, and the songs you played: imported with `/import` (a Spotify export "
    "is read in memory and never kept, only its plays are) or recorded while you opt in with "
    "`/listening` (your Spotify status, nobody else's). `/export-me` shows all of it, "
    "`/forget-me` deletes it."
)

Leaf = app_commands.Command[Any, ..., Any]
Root = app_commands.Command[Any, ..., Any] | app_commands.Group


def leaves(command: Root) -> Iterator[Leaf]:
    if isinstance(command, app_commands.Group):
        yield from (sub for sub in command.walk_commands() if isinstance(sub, app_commands.Command))
    else:
        yield command


def root_of(command: Leaf) -> Root:
    return command.root_parent or command


def usage(command: Leaf) -> str:
    options = " ".join(
        parameter.display_name if parameter.required else f"[{parameter.display_name}]"
        for parameter in command.parameters
    )
    return f"`/{command.qualified_name}{' ' + options if options else ''}`"


def is_admin(command: Leaf) -> bool:
    """Hidden by default from members without some permission (e.g. Manage Server)."""
    return root_of(command).default_permissions is not None


def usable_here(command: Leaf, interaction: discord.Interaction) -> bool:
    root = root_of(command)
    if interaction.guild is None:
        contexts = root.allowed_contexts
        if root.guild_only or (contexts is not None and not contexts.dm_channel):
            return False
    required = root.default_permissions
    return required is None or interaction.permissions >= required


def lines_to_fields(title: str, lines: list[str]) -> list[tuple[str, str]]:
    """`lines` as embed fields, each value within Discord's 1024 characters."""
    fields: list[tuple[str, str]] = []
    chunk: list[str] = []
    for line in lines:
        line = line if len(line) <= FIELD_LIMIT else line[: FIELD_LIMIT - 1] + "…"
        if chunk and len("\n".join([*chunk, line])) > FIELD_LIMIT:
            fields.append((title if not fields else f"{title} (more)", "\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        fields.append((title if not fields else f"{title} (more)", "\n".join(chunk)))
    return fields


def help_embed(
    tree: app_commands.CommandTree[EarwormBot], interaction: discord.Interaction
) -> discord.Embed:
    everyday: list[str] = []
    admin: list[str] = []
    commands_here = sorted(
        (leaf for command in tree.get_commands() for leaf in leaves(command)),
        key=lambda leaf: leaf.qualified_name,
    )
    for command in commands_here:
        if not usable_here(command, interaction):
            continue
        line = f"{usage(command)} — {command.description}"
        (admin if is_admin(command) else everyday).append(line)

    embed = discord.Embed(
        title="🎧 Earworm: music recommendations",
        description=(
            f"Type `/` and pick a command; [options] are optional.\n\n{REACTIONS}\n\n{STORED}"
        ),
        color=COLOR,
    )
    for name, value in lines_to_fields("Commands", everyday) + lines_to_fields(
        "Admin (Manage Server)", admin
    ):
        embed.add_field(name=name, value=value, inline=False)
    return embed


class Help(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What Earworm can do and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=help_embed(self.bot.tree, interaction), ephemeral=True
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Help(bot))
