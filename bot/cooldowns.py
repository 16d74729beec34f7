"""Per-member cooldowns on the heavy commands (those that score models or draw charts).

One budget for all of them: EARWORM_COOLDOWN_USES uses per EARWORM_COOLDOWN_SECONDS per
member, whichever heavy command they run (alternating commands does not multiply it);
0 seconds turns cooldowns off. A refused use reaches the central error handler in bot.app
as CommandOnCooldown ("Easy there! Try again in N s.").
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import discord
from discord import app_commands

_bot_numbers = itertools.count(1)


def _bot_number(client: discord.Client) -> int:
    """A number per bot object: discord.py keeps cooldown buckets per decorator, so two
    bots in one process (tests, a restart) must not share each other's buckets."""
    number = getattr(client, "cooldown_scope", None)
    if number is None:
        number = next(_bot_numbers)
        client.cooldown_scope = number  # type: ignore[attr-defined]
    return int(number)


def _member_key(interaction: discord.Interaction) -> Hashable:
    return (_bot_number(interaction.client), interaction.user.id)


def _heavy_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    settings = interaction.client.settings  # type: ignore[attr-defined]
    if settings.cooldown_seconds <= 0:
        return None
    return app_commands.Cooldown(settings.cooldown_uses, settings.cooldown_seconds)


# Applied to every heavy command: one decorator, hence one shared bucket per member.
heavy_command = app_commands.checks.dynamic_cooldown(_heavy_cooldown, key=_member_key)
