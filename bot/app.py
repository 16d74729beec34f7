"""The Discord bot: built from settings by `create_bot`, started by `earworm run`.

Stopping (`EarwormBot.shutdown`, on SIGTERM or SIGINT): new commands are refused politely,
the commands in flight get up to EARWORM_SHUTDOWN_TIMEOUT seconds to answer, then the bot
disconnects, writes all queued feedback, stops the HTTP server and closes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import pkgutil
import time
from collections.abc import Iterator
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import exts
from bot.engine import Engine
from bot.errors import UserFacingError
from bot.http.server import HttpServer, start_http_server
from bot.metrics import Timings
from bot.settings import Settings
from bot.spotify import SpotifyEnricher
from bot.writer import FeedbackWriter
from storage.database import Database, open_database
from storage.repositories.bot_settings import get_setting, set_setting

log = logging.getLogger(__name__)

# What the bot asks for in its invite: post cards, seed reactions, read reactions back.
PERMISSIONS = discord.Permissions(
    send_messages=True,
    embed_links=True,
    add_reactions=True,
    read_message_history=True,
    attach_files=True,
)
SCOPES = ("bot", "applications.commands")
COMMANDS_DIGEST = "commands_digest"  # bot_settings key: what was last synced
RESTARTING = "I'm restarting. Try again in a minute."


def intents() -> discord.Intents:
    """Only non-privileged intents: no message content, no member list."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_reactions = True
    chosen.dm_reactions = True
    return chosen


def extension_names() -> list[str]:
    return [
        f"{exts.__name__}.{module.name}"
        for module in pkgutil.iter_modules(exts.__path__)
        if not module.name.startswith("_")
    ]


# Earworm never joins voice channels; don't warn about missing voice libraries.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


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


class EarwormTree(app_commands.CommandTree["EarwormBot"]):
    """Times every interaction it handles (commands and autocomplete) into bot.timings,
    counts those in flight, and refuses new ones once the bot is shutting down."""

    async def _call(self, interaction: discord.Interaction[EarwormBot]) -> None:
        bot = self.client
        if bot.stopping:
            await refuse_while_stopping(interaction)
            return
        started = time.perf_counter()
        try:
            with bot.in_flight.track():
                await super()._call(interaction)
        finally:
            kind = (
                "autocomplete"
                if interaction.type is discord.InteractionType.autocomplete
                else "command"
            )
            name = interaction.command.qualified_name if interaction.command else "?"
            self.client.timings.record(f"{kind} {name}", time.perf_counter() - started)


class EarwormBot(commands.Bot):
    """Holds the long-lived services; cogs read them as typed attributes."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            tree_cls=EarwormTree,
            **options,
        )
        self.timings = Timings()
        # Set here, before anything (SimCord included) wraps the tree's error hook.
        self.tree.on_error = self.on_app_command_error
        self.settings = settings
        self._database: Database | None = None
        self._engine: Engine | None = None
        self._writer: FeedbackWriter | None = None
        # Optional album art and canonical names; disabled without Spotify credentials.
        self.spotify: SpotifyEnricher | None = None
        # Health, metrics and the REST API, when EARWORM_HTTP_PORT is set. Not `http`:
        # discord.Client.http is the client Discord's REST API goes through.
        self.http_server: HttpServer | None = None
        # Interactions being handled; after `shutdown` starts, new ones are refused.
        self.in_flight = InFlight()
        self.stopping = False
        self._shutdown_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None

    @property
    def database(self) -> Database:
        if self._database is None:
            raise RuntimeError("the database opens in setup_hook; use it after start-up")
        return self._database

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine starts in setup_hook; use it after start-up")
        return self._engine

    @property
    def writer(self) -> FeedbackWriter:
        if self._writer is None:
            raise RuntimeError("the writer starts in setup_hook; use it after start-up")
        return self._writer

    async def setup_hook(self) -> None:
        self._database = await open_database(self.settings.resolved_database_url)
        self._writer = FeedbackWriter(self._database, max_queue=self.settings.feedback_queue_size)
        self.spotify = SpotifyEnricher.from_settings(self.settings, self._database.sessions)
        self._engine = Engine(self.settings, self._database)
        await self._engine.start()
        for name in extension_names():
            await self.load_extension(name)
        await self.sync_commands()
        if self.settings.http_port is not None:
            self.http_server = await start_http_server(self)

    async def sync_commands(self) -> None:
        """Register the slash commands with Discord (to EARWORM_DEV_GUILD for instant
        updates while developing, else globally), only when they changed since the last
        sync: Discord rate-limits syncing, and most restarts change nothing."""
        guild = (
            discord.Object(self.settings.dev_guild) if self.settings.dev_guild is not None else None
        )
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(
            json.dumps([self.settings.dev_guild, payload], sort_keys=True).encode()
        ).hexdigest()
        async with self.database.sessions() as session:
            if await get_setting(session, COMMANDS_DIGEST) == digest:
                return
            await self.tree.sync(guild=guild)
            await set_setting(session, COMMANDS_DIGEST, digest)
            await session.commit()
        log.info(
            "synced %d slash commands %s", len(payload), f"to {guild.id}" if guild else "globally"
        )

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """The one place a failed slash command is answered: the member always hears back."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserFacingError):
            message = str(cause)
        elif isinstance(cause, app_commands.CommandOnCooldown):
            # At least 1: "0 s" reads as "now", and now is still too early.
            message = f"Easy there! Try again in {max(1, math.ceil(cause.retry_after))} s."
        elif isinstance(cause, app_commands.MissingPermissions):
            needed = permission_names(cause.missing_permissions)
            message = f"You need the {needed} permission to use that command."
        elif isinstance(cause, app_commands.BotMissingPermissions):
            needed = permission_names(cause.missing_permissions)
            message = f"I need the {needed} permission here. Ask a server admin to grant it."
        elif isinstance(cause, app_commands.NoPrivateMessage):
            message = "That command works only in a server. Run it there."
        elif isinstance(cause, app_commands.CheckFailure):
            message = "You can't use that command here."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("/%s failed", command, exc_info=cause)
            message = "Something went wrong on my side. Please try again in a moment."
        try:
            await reply_ephemeral(interaction, message)
        except discord.HTTPException:
            # Discord itself is failing (or the interaction expired): nothing more to do.
            log.warning("could not tell the member that a command failed", exc_info=True)

    async def on_ready(self) -> None:
        if self.application_id is not None:
            url = discord.utils.oauth_url(
                self.application_id, permissions=PERMISSIONS, scopes=SCOPES
            )
            log.info("connected as %s; invite: %s", self.user, url)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop gracefully: refuse new commands, let those in flight answer (up to
        `grace` seconds, default EARWORM_SHUTDOWN_TIMEOUT), then `close`. Safe to call
        again (e.g. a second signal): it waits for the same shutdown."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(self.settings.shutdown_timeout if grace is None else grace),
                name="earworm-shutdown",
            )
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self, grace: float) -> None:
        self.stopping = True
        log.info("shutting down: new commands are refused from now on")
        if self.in_flight.count:
            log.info("waiting up to %g s for %d command(s) in flight", grace, self.in_flight.count)
            if await self.in_flight.wait_idle(grace):
                log.info("the commands in flight have finished")
            else:
                log.warning(
                    "%d command(s) still running after %g s; stopping anyway",
                    self.in_flight.count,
                    grace,
                )
        await self.close()

    async def close(self) -> None:
        """Disconnect and release everything, once; `shutdown` lets work finish first."""
        self.stopping = True
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._close(), name="earworm-close"
            )
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        # Discord first: no new events (reactions) arrive while the writer drains.
        await super().close()
        log.info("disconnected from Discord")
        if self._writer is not None:
            queued = self._writer.queued
            await self._writer.close()  # what members said before the shutdown is kept
            log.info("feedback writer flushed (%d queued at shutdown)", queued)
        if self.http_server is not None:
            await self.http_server.close()
            log.info("HTTP server stopped")
        if self.spotify is not None:
            self.spotify.close()
        if self._database is not None:
            await self._database.close()
            log.info("database closed")


def permission_names(permissions: list[str]) -> str:
    """manage_guild -> "Manage Server", as Discord's settings name it."""
    return ", ".join(
        name.replace("guild", "server").replace("_", " ").title() for name in permissions
    )


async def refuse_while_stopping(interaction: discord.Interaction) -> None:
    """Answer an interaction that arrived after shutdown began (never leave it hanging)."""
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await interaction.response.send_message(RESTARTING, ephemeral=True)
    except discord.HTTPException:
        log.debug("could not tell a member that the bot is restarting", exc_info=True)


async def reply_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Answer only the member who asked, whether or not the command replied already.

    One exception Discord imposes: after a public "thinking…" (a deferred reply) the first
    follow-up completes that message and keeps its visibility, so an error there is seen
    by the channel. Deleting the placeholder first does not help: the follow-up then has
    no message to complete and fails. Commands check their input before deferring, so
    what reaches this point is Discord or the bot failing, not the member."""
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


class ShardedEarwormBot(EarwormBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (EARWORM_SHARDS): Discord requires
    shards past 2,500 servers, and each one carries its own share of the events."""


def create_bot(settings: Settings) -> EarwormBot:
    """The fully wired bot, not yet connected (tests drive it without a token)."""
    if settings.shards is None:
        return EarwormBot(settings)
    # "auto": discord.py asks Discord for the recommended count when it connects.
    count = None if settings.shards == "auto" else settings.shards
    return ShardedEarwormBot(settings, shard_count=count, shard_ids=settings.shard_id_list())
