"""`earworm demo`: set up (catalog, a listening history from real playlists), then show the
bot at work in a simulated Discord server (the session: bot/demo/)."""

from __future__ import annotations

import logging
import sys

import click

from bot.cli.common import fail, run, settings_of
from bot.settings import Settings


def _quiet_logs(settings: Settings) -> None:
    """At the default level the bot's INFO logs would interleave with the conversation."""
    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)
        # discord.py's warnings here are about the simulation (no voice, no real gateway).
        logging.getLogger("discord").setLevel(logging.ERROR)
        # A refused training is part of the story on a small catalog; carol's reply says why.
        logging.getLogger("bot.learning.admin").setLevel(logging.ERROR)


@click.command("demo")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Set up, then show the bot in a simulated Discord server (no token needed)."""
    settings = settings_of(ctx)
    _quiet_logs(settings)  # before SimCord's import, which builds a client and logs
    try:
        import simcord  # noqa: F401
    except ImportError:
        fail("the demo runs on SimCord, a development dependency: pip install -e '.[dev]'")
    from bot.demo.session import run_demo

    run(run_demo(settings))
    sys.stdout.flush()


COMMANDS = [command]
