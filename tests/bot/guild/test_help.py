"""/help lists every slash command the member can use, straight from the command tree."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from simcord.builders import UserHandle

from tests.bot.guild.conftest import Server


@app_commands.command(name="tidy-up", description="Admins tidy the server's music")
@app_commands.default_permissions(manage_guild=True)
async def tidy_up(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("tidied", ephemeral=True)


def every_command(server: Server) -> list[Any]:
    """(qualified name, description, admin?) of every slash command in the bot's tree."""
    found = []
    for root in server.bot.tree.get_commands():
        leaves = (
            [sub for sub in root.walk_commands() if isinstance(sub, app_commands.Command)]
            if isinstance(root, app_commands.Group)
            else [root]
        )
        found += [
            (leaf.qualified_name, leaf.description, root.default_permissions is not None)
            for leaf in leaves
        ]
    return found


async def help_text(server: Server, member: Any) -> tuple[str, discord.Embed]:
    """What /help shows `member`: in the server's channel, or in DMs for a UserHandle."""
    is_user = isinstance(member, UserHandle)
    result = await (member.slash("help") if is_user else member.slash(server.channel, "help"))
    assert result.response is not None
    assert result.response.ephemeral
    [embed] = result.response.embeds
    text = "\n".join([str(embed.description), *(f"{f.name}\n{f.value}" for f in embed.fields)])
    return text, embed


async def test_help_lists_every_command_with_its_description(server: Server) -> None:
    text, embed = await help_text(server, server.alice)

    commands = every_command(server)
    assert {"profile", "taste", "forget-me", "export-me", "help"} <= {name for name, *_ in commands}
    for name, description, admin in commands:
        if not admin:
            assert f"`/{name}" in text, name
            assert description in text, name
    assert "`/taste member` — How alike your taste is" in text
    assert "`/profile [member]`" in text
    for emoji in ("👍", "❤️", "👎", "⏭️"):
        assert emoji in str(embed.description)
    assert all(len(str(field.value)) <= 1024 for field in embed.fields)
    assert len(embed) <= 6000


async def test_admin_commands_only_for_members_with_manage_server(server: Server) -> None:
    server.bot.tree.add_command(tidy_up)

    members_help, _ = await help_text(server, server.alice)
    admins_help, _ = await help_text(server, server.carol)

    admin_commands = [name for name, _, admin in every_command(server) if admin]
    assert "tidy-up" in admin_commands
    for name in admin_commands:
        assert f"`/{name}" not in members_help, name
        assert f"`/{name}" in admins_help, name
    assert "Admin" not in members_help
    assert "Admin (Manage Server)" in admins_help
    assert "`/profile [member]`" in admins_help


async def test_help_in_dms_leaves_out_server_only_commands(server: Server) -> None:
    server.bot.tree.add_command(tidy_up)
    shown, _ = await help_text(server, server.carol.user)  # an admin, but in a DM

    assert "`/profile [member]`" in shown
    assert "`/tidy-up" not in shown
    for root in server.bot.tree.get_commands():
        if root.guild_only:
            assert f"`/{root.name}" not in shown, root.name
