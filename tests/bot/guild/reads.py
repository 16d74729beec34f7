"""What the bot's database holds, read the way tests check it."""

from __future__ import annotations

from storage.repositories.feedback import FeedbackRecord, user_feedback
from storage.repositories.served import ServedItem, served_for_message, shown_pick
from tests.bot.guild.conftest import Server


async def feedback_of(server: Server, user_id: int) -> list[FeedbackRecord]:
    async with server.bot.database.sessions() as session:
        return await user_feedback(session, user_id)


async def served(server: Server, message_id: int) -> list[ServedItem]:
    async with server.bot.database.sessions() as session:
        return await served_for_message(session, message_id)


async def shown_position(server: Server, message_id: int) -> int | None:
    async with server.bot.database.sessions() as session:
        item = await shown_pick(session, message_id)
    return item.position if item else None
