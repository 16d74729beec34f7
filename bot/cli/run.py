"""`earworm run`: connect to Discord and serve until SIGTERM or Ctrl-C (graceful)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, settings_of

if TYPE_CHECKING:
    from bot.app import EarwormBot

log = logging.getLogger(__name__)


@click.command("run")
@click.pass_context
def run_bot(ctx: click.Context) -> None:
    """Connect to Discord with DISCORD_TOKEN and serve until stopped."""
    settings = settings_of(ctx)
    if settings.discord_token is None:
        fail(
            "DISCORD_TOKEN is not set. Create a bot in the Discord developer portal, "
            "then export its token."
        )

    import aiohttp
    import discord

    from bot.app import create_bot

    bot = create_bot(settings)
    try:
        asyncio.run(serve(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        fail("Discord rejected DISCORD_TOKEN. Copy the bot token again from the developer portal.")
    except discord.PrivilegedIntentsRequired:
        fail(privileged_intents_message(settings.listening))
    except (aiohttp.ClientError, OSError) as exc:
        fail(f"cannot reach Discord ({exc}). Check the network and try again.")


def privileged_intents_message(listening: bool) -> str:
    """What to do when Discord refuses the intents the bot asked for."""
    if listening:
        return (
            "Discord refused the privileged intents listening capture needs "
            "(EARWORM_LISTENING=on). In the Discord developer portal, open your application, "
            "then Bot → Privileged Gateway Intents, and turn on Presence Intent and Server "
            "Members Intent (or set EARWORM_LISTENING=off)."
        )
    return "Discord refused an intent Earworm asked for; this is a bug, please report it."


async def serve(bot: EarwormBot, token: str) -> None:
    """Run the bot until Discord closes the connection or a SIGTERM/SIGINT asks it to stop;
    a signal starts the graceful shutdown (EarwormBot.shutdown), which this waits for."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s again: already shutting down", name)
            return
        log.info("%s received: shutting down", name)
        stopping.append(loop.create_task(bot.shutdown(), name="earworm-signal-shutdown"))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with bot:
            await bot.start(token)
    finally:
        # start() returns once the connection is closed; a shutdown may still be writing
        # feedback and closing the database: let it finish (close() waits for the same).
        await (stopping[0] if stopping else bot.close())
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("stopped")


COMMANDS = [run_bot]
