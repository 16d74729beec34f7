"""The checks the cogs' commands share (a module of bot/exts/ that is not a cog: its name
starts with "_").

`heavy_command`: the per-member cooldown of the heavy commands (bot/serving/cooldowns.py
keeps the windows); `refund_slot` is the central error handler's half: a command that
served nothing gives its slot back."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.serving.cooldowns import MemberCooldowns

# Where the check leaves a mark that this interaction took a slot (so only it is refunded).
TOOK_SLOT = "earworm_cooldown_slot"


async def _take_slot(interaction: discord.Interaction) -> bool:
    cooldowns: MemberCooldowns = interaction.client.cooldowns  # type: ignore[attr-defined]
    if not cooldowns.enabled:
        return True
    wait = cooldowns.take(interaction.user.id, interaction.created_at.timestamp())
    if wait is not None:
        raise app_commands.CommandOnCooldown(
            app_commands.Cooldown(cooldowns.uses, cooldowns.seconds), wait
        )
    interaction.extras[TOOK_SLOT] = True
    return True


def refund_slot(interaction: discord.Interaction) -> None:
    """The central error handler's half: the command served nothing, give the slot back."""
    if interaction.extras.pop(TOOK_SLOT, False):
        interaction.client.cooldowns.refund(interaction.user.id)  # type: ignore[attr-defined]


# Applied to every heavy command: one check, hence one shared budget per member.
heavy_command = app_commands.check(_take_slot)
