"""Pieces every `earworm` command shares: error handling, settings, output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click

from bot.errors import CommandError
from bot.logs import report_error
from bot.settings import Settings, SettingsError, load_settings
from storage.errors import StorageError

T = TypeVar("T")
EXIT_USAGE = 2


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit status 2: the contract for every bad input
    (`error: …`, or a JSON object when EARWORM_LOG_FORMAT=json)."""
    report_error(message)
    sys.exit(EXIT_USAGE)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class EarwormGroup(click.Group):
    """Turns our domain errors into one line and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SettingsError, StorageError, CommandError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            sys.exit(130)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    if settings is None:
        settings = load_settings()
        ctx.obj = settings
    return settings


def print_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))
