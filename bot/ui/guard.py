"""The one gate every interaction passes: slash commands (the command tree), buttons on
views and the cards' persistent buttons.

While the bot stops (`EarwormBot.shutdown`) a new interaction is answered "I'm restarting"
and does nothing; one already running is counted in flight, so the shutdown waits for it to
answer. Views derive from `GuardedView`, which runs every press through `guarded`; a view
that does not is caught by tests/bot/test_views.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import discord

log = logging.getLogger(__name__)

RESTARTING = "I'm restarting. Try again in a minute."


class InFlight:
    """How many interactions the bot is handling now, and a way to wait until none."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Whether everything in flight finished within `seconds`."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True


class Stoppable(Protocol):
    """What the gate needs of the bot."""

    stopping: bool
    in_flight: InFlight


async def refuse_while_stopping(interaction: discord.Interaction) -> None:
    """Answer an interaction that arrived after shutdown began (never leave it hanging)."""
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await interaction.response.send_message(RESTARTING, ephemeral=True)
    except discord.HTTPException:
        log.debug("could not tell a member that the bot is restarting", exc_info=True)


async def guarded(interaction: discord.Interaction, handle: Callable[[], Awaitable[None]]) -> None:
    """Run `handle` for `interaction` unless the bot is stopping; counted in flight."""
    bot: Stoppable = interaction.client  # type: ignore[assignment]
    if bot.stopping:
        await refuse_while_stopping(interaction)
        return
    with bot.in_flight.track():
        await handle()


class GuardedView(discord.ui.View):
    """A view whose every press goes through `guarded` (checks, callback and errors alike).

    discord.py runs a press as `View._scheduled_task` (the item's checks, the view's
    `interaction_check`, the callback, `on_error`); wrapping it whole is the one place
    that sees every press of every view."""

    async def _scheduled_task(
        self, item: discord.ui.Item[Any], interaction: discord.Interaction
    ) -> None:
        press = super()._scheduled_task
        await guarded(interaction, lambda: press(item, interaction))
