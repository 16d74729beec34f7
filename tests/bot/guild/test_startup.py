"""The bot starts against SimCord: database open, extensions loaded, commands synced."""

from __future__ import annotations

from tests.bot.guild.conftest import Server


async def test_bot_starts_with_its_database(server: Server) -> None:
    assert server.bot.is_ready()
    async with server.bot.database.sessions() as session:
        from storage.repositories.tracks import catalog_stats

        assert (await catalog_stats(session)).tracks == 9
