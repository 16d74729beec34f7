"""What the HTTP server needs of the bot, as a protocol: the services it reads and whether
the bot is stopping. bot.app.EarwormBot is one; the server never imports it, so the bot and
its HTTP side do not import each other (the bot starts the server and hands itself over)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import discord

    from bot.http.timings import Timings
    from bot.serving.engine import Engine
    from bot.serving.writer import FeedbackWriter
    from bot.settings import Settings
    from storage.database import Database


class ServedBot(Protocol):
    """The bot as the HTTP server sees it. Underneath it is a discord.Client: the gateway
    checks look at its connection through discord.py's own types."""

    settings: Settings
    stopping: bool
    timings: Timings

    @property
    def database(self) -> Database: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def writer(self) -> FeedbackWriter: ...

    @property
    def guilds(self) -> Sequence[discord.Guild]: ...

    def get_cog(self, name: str, /) -> Any: ...
