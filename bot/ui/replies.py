"""Answering only the member who asked, whatever the command said before."""

from __future__ import annotations

import contextlib

import discord

# What a public "thinking…" briefly becomes when the command fails after it (see
# reply_ephemeral): the member hears why privately.
PLACEHOLDER_CLOSED = "That didn't work out."


async def reply_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Answer only the member who asked, whether or not the command replied already.

    After a public "thinking…" (a deferred reply) Discord makes the first follow-up
    complete that message, keeping its visibility: an error sent there would be seen by
    the channel. So a placeholder still thinking in public is first closed (completed with
    a neutral line, then deleted), and the member is told in a private follow-up."""
    if not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True)
        return
    thinking_in_public = False
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        original = await interaction.original_response()
        thinking_in_public = original.flags.loading and not original.flags.ephemeral
    if thinking_in_public:
        await interaction.edit_original_response(content=PLACEHOLDER_CLOSED)
    await interaction.followup.send(message, ephemeral=True)
    if thinking_in_public:
        with contextlib.suppress(discord.HTTPException):  # closed already: nothing lost
            await interaction.delete_original_response()
