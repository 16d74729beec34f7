"""The `earworm` command line: one module per command group in this package, each with a
COMMANDS list (found here, not listed). Every command that needs the database migrates it."""

from __future__ import annotations

import importlib
import pkgutil

import click

from bot.cli.common import EarwormGroup
from bot.logs import configure_logging
from bot.settings import load_settings


@click.group(cls=EarwormGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="earworm")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Earworm: a Discord bot that recommends music and learns from reactions."""
    settings = load_settings()
    ctx.obj = settings
    # Text or JSON lines on stderr (EARWORM_LOG_FORMAT), secrets redacted from every record.
    configure_logging(settings)


def _register_commands() -> None:
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        if module.name.rsplit(".", 1)[-1] in {"common"}:
            continue
        for command in importlib.import_module(module.name).COMMANDS:
            main.add_command(command)


_register_commands()
