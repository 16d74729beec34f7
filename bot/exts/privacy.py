"""A member's own data: /forget-me deletes every row about them (after a confirm button),
/export-me hands it to them as a JSON file. Both answer only the member who asked.

What is stored about a member: their feedback (reactions, buttons, /like, /rate), the cards
shown to them, their plays (imported with /import or recorded with /listening) and whether
they opted in to listening. A cog that keeps something about members in memory offers a
privacy hook, `forget_member(user_id)` (see `MemberMemory`); /forget-me calls every such
hook before it deletes the rows, so nothing is recorded again from memory afterwards.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.ui.cards import card_index
from bot.ui.guard import GuardedView
from bot.ui.replies import reply_ephemeral
from storage.repositories.feedback import count_user_feedback
from storage.repositories.people import delete_user_data, export_user_data
from storage.repositories.plays import count_user_plays

if TYPE_CHECKING:
    from bot.app import EarwormBot

log = logging.getLogger(__name__)

CONFIRM_SECONDS = 60.0
# The rows delete_user_data counts (and an export holds), in words for the member.
ROW_WORDS = {
    "feedback": ("feedback entry", "feedback entries"),
    "recommendations_served": ("recommendation shown to you", "recommendations shown to you"),
    "plays": ("play", "plays"),
    "listening_optin": ("listening opt-in", "listening opt-ins"),
    "users": ("member record", "member records"),
}


@runtime_checkable
class MemberMemory(Protocol):
    """A cog that keeps something about members in memory (e.g. who opted in to listening):
    /forget-me calls `forget_member` before deleting the member's rows."""

    def forget_member(self, user_id: int) -> None: ...


def forget_in_memory(bot: EarwormBot, user_id: int) -> None:
    """Every cog's privacy hook, for one member."""
    for cog in bot.cogs.values():
        if isinstance(cog, MemberMemory):
            cog.forget_member(user_id)


def plural(count: int, words: tuple[str, str]) -> str:
    return f"{count} {words[0] if count == 1 else words[1]}"


def deleted_summary(counts: dict[str, int]) -> str:
    parts = [
        plural(count, ROW_WORDS.get(table, (table, table)))
        for table, count in counts.items()
        if count
    ]
    if not parts:
        return "Done. I had nothing stored about you, so there was nothing to delete."
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return (
        f"Done: I deleted {listed}. Earworm no longer holds any data about you; "
        "your next `/recommend` starts fresh."
    )


class ForgetMeConfirm(GuardedView):
    """The confirm step of /forget-me: only its member can press; gone after a minute."""

    def __init__(self, bot: EarwormBot, origin: discord.Interaction) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot = bot
        self.origin = origin
        self.owner_id = origin.user.id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # The prompt is ephemeral, so no one else should ever see it; check anyway.
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These buttons are for the member who ran `/forget-me`. "
            "Run it yourself to delete your own data.",
            ephemeral=True,
        )
        return False

    @discord.ui.button(label="Delete my data", style=discord.ButtonStyle.danger, emoji="🗑️")
    async def confirm(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        # Memory first: nothing (a listened play) is recorded again once the rows are gone.
        forget_in_memory(self.bot, self.owner_id)
        # Through the writer: feedback and plays queued before the confirm are deleted too.
        counts = await self.bot.writer.run(lambda session: delete_user_data(session, self.owner_id))
        log.info("deleted the data of user %s on request: %s", self.owner_id, counts)
        # The engine and the card index cache what members like and were shown: forget it now.
        self.bot.engine.feedback_changed(self.owner_id)
        card_index(self.bot).forget()
        await interaction.response.edit_message(content=deleted_summary(counts), view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled: nothing was deleted.", view=None
        )

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        try:
            await self.origin.edit_original_response(
                content=(
                    "No answer within a minute, so nothing was deleted. "
                    "Run `/forget-me` again if you still want to."
                ),
                view=self,
            )
        except discord.HTTPException:
            # The member may have dismissed the ephemeral message; nothing left to update.
            log.debug("could not disable the /forget-me buttons", exc_info=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        log.error("/forget-me %s failed", getattr(item, "label", "button"), exc_info=error)
        await reply_ephemeral(
            interaction, "Something went wrong on my side; nothing was changed. Please try again."
        )


def export_file(data: dict[str, Any], user_id: int, limit: int) -> discord.File:
    """The export as a JSON file, gzipped if it would not fit in a Discord upload."""
    payload = json.dumps(data, ensure_ascii=False, indent=2).encode()
    name = f"earworm-data-{user_id}.json"
    if len(payload) > limit:
        payload = gzip.compress(payload)
        name += ".gz"
    if len(payload) > limit:
        raise UserFacingError(
            "Your data is too big for a Discord upload. Ask the bot's operator for an export."
        )
    return discord.File(io.BytesIO(payload), filename=name)


class Privacy(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @app_commands.command(name="forget-me", description="Delete all the data Earworm holds on you")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        async with self.bot.database.sessions() as session:
            feedback = await count_user_feedback(session, interaction.user.id)
            plays = await count_user_plays(session, interaction.user.id)
        view = ForgetMeConfirm(self.bot, interaction)
        await interaction.response.send_message(
            "This deletes **everything** Earworm stores about you: your "
            f"{plural(feedback, ROW_WORDS['feedback'])} (likes, loves, dislikes, skips "
            f"and ratings), your {plural(plays, ROW_WORDS['plays'])} (imported or recorded "
            "while listening), your listening opt-in and the list of songs recommended to "
            "you. Your recommendations start over, and this can't be undone.",
            view=view,
            ephemeral=True,
        )

    @app_commands.command(
        name="export-me", description="Download all the data Earworm holds on you"
    )
    async def export_me(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.database.sessions() as session:
            data = await export_user_data(session, interaction.user.id)
        file = await asyncio.to_thread(
            export_file, data, interaction.user.id, interaction.filesize_limit
        )
        entries = plural(len(data["feedback"]), ROW_WORDS["feedback"])
        if data["plays"]:
            entries += f", {plural(len(data['plays']), ROW_WORDS['plays'])}"
        await interaction.followup.send(
            f"Here is everything Earworm stores about you ({entries}).",
            file=file,
            ephemeral=True,
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Privacy(bot))
