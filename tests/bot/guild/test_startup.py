"""The bot starts against SimCord: database open, extensions loaded, commands synced."""

from __future__ import annotations

import gc

from simcord import Env

from bot.app import EarwormBot
from tests.bot.guild.conftest import Server


async def test_bot_starts_with_its_database(server: Server) -> None:
    assert server.bot.is_ready()
    async with server.bot.database.sessions() as session:
        from storage.repositories.tracks import catalog_stats

        assert (await catalog_stats(session)).tracks == 9


def _walked_by_collections(thing: object) -> bool:
    """Whether Python's collections still walk `thing` (frozen objects are left out)."""
    return any(candidate is thing for candidate in gc.get_objects())


async def test_what_the_first_connection_brought_is_frozen_once(simcord_bot: EarwormBot) -> None:
    """The guilds the gateway announces at start-up live as long as the bot: once it is
    ready they are out of the full collections' way (each would walk them, holding the
    GIL). A later ready (a fresh session) freezes nothing: what it drops would leak."""
    env = Env(simcord_bot)
    handle = env.create_guild("Big server")
    handle.create_text_channel("music")
    await env.start()
    try:
        guild = simcord_bot.get_guild(handle.id)
        assert guild is not None
        assert not _walked_by_collections(guild)

        later = [object()]  # created after the first ready
        await simcord_bot.on_ready()
        assert _walked_by_collections(later)
    finally:
        await env.shutdown()
