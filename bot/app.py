"""The Discord bot: built from settings by `create_bot`, started by `earworm run`.

Stopping (`EarwormBot.shutdown`, on SIGTERM or SIGINT): new commands are refused politely,
the commands in flight get up to EARWORM_SHUTDOWN_TIMEOUT seconds to answer, then the bot
disconnects, writes all queued feedback, stops the HTTP server and closes the database.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pkgutil
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import exts
from bot.command_sync import same_commands
from bot.errors import UserFacingError
from bot.exts._checks import refund_slot
from bot.http.server import HttpServer, start_http_server
from bot.http.timings import Timings
from bot.serving.cooldowns import MemberCooldowns
from bot.serving.engine import Engine, settle_garbage
from bot.serving.spotify import SpotifyEnricher
from bot.serving.writer import FeedbackWriter
from bot.settings import Settings
from bot.ui.guard import InFlight, guarded, refuse_while_stopping
from bot.ui.replies import reply_ephemeral
from storage.database import Database, open_database

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


def intents(settings: Settings | None = None) -> discord.Intents:
    """Only non-privileged intents (no message content, no member list), unless listening
    capture is on (EARWORM_LISTENING): then also presences, to see what opted-in members
    play on Spotify, and members, without which Discord sends no member's presence. Both are
    privileged: the developer portal must allow them (see `earworm run`)."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_reactions = True
    chosen.dm_reactions = True
    if settings is not None and settings.listening:
        chosen.presences = True
        chosen.members = True
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


class EarwormTree(app_commands.CommandTree["EarwormBot"]):
    """Times every interaction it handles (commands and autocomplete) into bot.timings,
    counts those in flight, and refuses new ones once the bot is shutting down."""

    async def _call(self, interaction: discord.Interaction[EarwormBot]) -> None:
        if self.client.stopping:
            await refuse_while_stopping(interaction)  # not timed: no work was done
            return
        started = time.perf_counter()
        try:
            call = super()._call
            await guarded(interaction, lambda: call(interaction))
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
            intents=intents(settings),
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
        # The heavy commands' per-member budget (bot/serving/cooldowns.py).
        self.cooldowns = MemberCooldowns(settings.cooldown_uses, settings.cooldown_seconds)
        self.stopping = False
        self._garbage_settled = False  # see on_ready
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
        self._engine = Engine(self.settings, self._database, timings=self.timings)
        # Every row the writer commits moves the engine's listener counts and charts.
        self._writer.on_changes = self._engine.feedback_written
        await self._engine.start()
        for name in extension_names():
            await self.load_extension(name)
        await self.sync_commands()
        if self.settings.http_port is not None:
            self.http_server = await start_http_server(self)

    async def sync_commands(self) -> None:
        """Register the slash commands with Discord (to EARWORM_DEV_GUILD for instant
        updates while developing, else globally) when what Discord has differs from the
        bot's tree. Decided from Discord itself (one request): a new application, a new
        token or commands removed in the developer portal all get the commands again, and
        a restart that changed nothing does not spend Discord's sync rate limit."""
        guild = (
            discord.Object(self.settings.dev_guild) if self.settings.dev_guild is not None else None
        )
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        local = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        where = f"to server {guild.id}" if guild is not None else "globally"
        if self.application_id is None:  # discord.py sets it at login; a bug if not
            raise RuntimeError("cannot sync slash commands before logging in")
        if guild is None:
            registered = await self.http.get_global_commands(self.application_id)
        else:
            registered = await self.http.get_guild_commands(self.application_id, guild.id)
        if same_commands(local, registered):
            log.info("slash commands %s are up to date (%d)", where, len(local))
            return
        await self.tree.sync(guild=guild)
        log.info(
            "synced %d slash commands %s (Discord had %d, %s)",
            len(local),
            where,
            len(registered),
            "none" if not registered else "others",
        )

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """The one place a failed slash command is answered: the member always hears back."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserFacingError):
            refund_slot(interaction)  # bad input or busy: the member was served nothing
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
        if not self._garbage_settled:
            # What the first connection brought (the guilds' caches, the extensions'
            # modules) lives as long as the process: frozen once, so that the full
            # collections Python runs every few seconds under load stop walking it (each
            # took 100-175 ms holding the GIL with a 50,000-member server). Once only: a
            # fresh session later drops those caches, and frozen garbage in a reference
            # cycle is never collected.
            self._garbage_settled = True
            settle_garbage()
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


# What the central error handler (`on_app_command_error`) answers with a short, friendly
# message: the member was told what to do, so these are not bugs. Tools that drive the
# bot (the demo, the simulation, the load test) count them instead of failing on them.
FRIENDLY_REFUSALS: tuple[type[BaseException], ...] = (
    UserFacingError,
    app_commands.CommandOnCooldown,
    app_commands.CheckFailure,  # missing permissions, no DMs, and other failed checks
)


def friendly_refusal(error: BaseException) -> bool:
    """Whether `error` (as SimCord or the tree records it) was answered politely."""
    cause = getattr(error, "original", None) or error
    return isinstance(cause, FRIENDLY_REFUSALS)


def permission_names(permissions: list[str]) -> str:
    """manage_guild -> "Manage Server", as Discord's settings name it."""
    return ", ".join(
        name.replace("guild", "server").replace("_", " ").title() for name in permissions
    )


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
